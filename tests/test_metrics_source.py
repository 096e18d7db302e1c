"""The page's metrics source, one shape everywhere: ``/api/metrics`` through the real Collector
and through ``make run``.

What runs for real: the three services under gunicorn, two workers each, exporting to a
Collector of this module's own that runs the project's ``common.yaml`` + ``jaeger.yaml`` (its
``prometheus`` exporter), with Jaeger; the page's origin in front of them, ``make run``'s server
and the image's nginx; and ``make run`` itself, two workers per process, whose services send
their metrics to its frontend server. An exemplar lives one export interval (the SDK's
reservoirs start afresh at each export, and the next export replaces the point), so each check
reads ``/api/metrics`` until the order's exemplar is there.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.samples import Sample

from devkit.backends import Collector, Jaeger, start_on_free_ports
from devkit.process import child_pids
from frontend.openmetrics import OPENMETRICS_ACCEPT
from tests.conftest import run_init_db
from tests.exposition import OPENMETRICS, families, samples, shape
from tests.helpers import TIMEOUT
from tests.nginx_frontend import NginxFrontend, start_frontend
from tests.stack import ServiceProcess, Stack, base_env
from tests.test_lifecycle import MakeRun, start_make_run
from tests.test_real_collector import poll

PRICE = 1200  # product 1
DURATION = "http_server_request_duration_seconds"
# The order service's server duration for the route the page's order hits.
ORDERS_ROUTE = {"job": "order-service", "http_route": "/orders", "http_request_method": "POST"}
SERVICES = ("user-service", "payment-service", "order-service")


@dataclass
class Source:
    """Where the page reads the services' metrics (its origin's ``/api/metrics``), and where
    the services are."""

    name: str
    origin: str
    order_url: str

    def metrics(self) -> str:
        answer = requests.get(f"{self.origin}/api/metrics", timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == OPENMETRICS
        return answer.text


@dataclass(frozen=True)
class Caught:
    """An order's exemplar, and the series it was caught on in that scrape."""

    text: str
    bucket: Sample
    instance: str
    count: float
    placed: float


def exemplar_of(text: str, trace_id: str) -> Caught | None:
    """The bucket of the order service's ``/orders`` duration whose exemplar is ``trace_id``'s,
    with its series' count and its instance's orders placed, if this scrape has it."""
    found = families(text)
    if DURATION not in found:
        return None
    for bucket in samples(found[DURATION], f"{DURATION}_bucket", **ORDERS_ROUTE):
        if bucket.exemplar and bucket.exemplar.labels.get("trace_id") == trace_id:
            series = {key: value for key, value in bucket.labels.items() if key != "le"}
            (count,) = [
                s
                for s in found[DURATION].samples
                if s.labels == series and s.name.endswith("_count")
            ]
            instance = series["instance"]
            (placed,) = samples(
                found["app_orders"], "app_orders_total", app_outcome="placed", instance=instance
            )
            return Caught(text, bucket, instance, count.value, placed.value)
    return None


def catch(read: Callable[[], str], trace_id: str) -> Caught:
    """Read until the exemplar of ``trace_id`` is there."""
    caught = poll(
        lambda: exemplar_of(read(), trace_id),
        lambda found: found is not None,
        f"exemplar of trace {trace_id} on the order service's /orders duration",
    )
    assert caught is not None
    return caught


def ids_of(reply: requests.Response) -> tuple[str, str]:
    """The trace id and the server span id a service's reply names (``traceresponse``)."""
    _, trace_id, span_id, _ = reply.headers["traceresponse"].split("-")
    return trace_id, span_id


def shop(http: requests.Session, base_url: str) -> tuple[str, str]:
    """What the page's three clicks do: a user, a transfer, an order; the order's ids."""
    user = http.post(f"{base_url}/users", json={"user_name": "M", "account": "m"}, timeout=TIMEOUT)
    assert user.status_code == 201, user.text
    user_id = user.json()["id"]
    credited = http.put(
        f"{base_url}/payments/transfer/id/{user_id}", json={"amount": PRICE}, timeout=TIMEOUT
    )
    assert credited.status_code == 200, credited.text
    placed = http.post(
        f"{base_url}/orders", json={"user_id": user_id, "product_id": 1}, timeout=TIMEOUT
    )
    assert placed.status_code == 201, placed.text
    return ids_of(placed)


# --- The sources ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_collector(jaeger: Jaeger, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """A Collector of this module's own: its exporter serves this module's series alone."""
    log_dir = tmp_path_factory.mktemp("metrics-collector")
    running = start_on_free_ports(lambda: Collector.for_jaeger(log_dir, jaeger))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def collector_stack(
    own_collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The services as compose runs them, on a SQLite file of their own (as `make run`'s)."""
    work = tmp_path_factory.mktemp("metrics-stack")
    database_url = f"sqlite:///{work / 'demo.sqlite3'}"
    initialised = run_init_db(database_url)
    assert initialised.returncode == 0, initialised.stderr
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=own_collector.endpoint,
        WEB_CONCURRENCY="2",
    )
    running = Stack.start(work, env)
    yield running
    running.stop()


def _collector_page(
    kind: str, stack: Stack, collector: Collector, work: Path
) -> ServiceProcess | NginxFrontend:
    """The page's origin in front of ``stack``, reading metrics from ``collector``."""
    variables = {
        "USER_URL": stack.users.url,
        "PAYMENT_URL": stack.payment.url,
        "ORDER_URL": stack.order.url,
        "COLLECTOR_OTLP_HTTP_URL": collector.http_endpoint,
        "COLLECTOR_PROMETHEUS_URL": collector.prometheus_url,
        "TRACE_UI_URL": "http://localhost:16686/trace/{trace_id}",
        "WEB_CONCURRENCY": "2",
    }
    return start_frontend(kind, variables, work)


@pytest.fixture(scope="module")
def collector_source(
    collector_stack: Stack, own_collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """compose's shape with `make run`'s server as the page's origin."""
    work = tmp_path_factory.mktemp("collector-page")
    page = _collector_page("python-server", collector_stack, own_collector, work)
    yield Source("collector", page.url, collector_stack.order.url)
    page.stop()


@pytest.fixture(scope="module")
def nginx_source(
    collector_stack: Stack, own_collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """compose's shape: the image's nginx as the page's origin."""
    work = tmp_path_factory.mktemp("collector-nginx")
    page = _collector_page("nginx", collector_stack, own_collector, work)
    yield Source("collector-nginx", page.url, collector_stack.order.url)
    page.stop()


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """`make run` as a person starts it, two workers per process (the frontend server's too)."""
    run = start_make_run(tmp_path_factory.mktemp("make-run"), WEB_CONCURRENCY="2")
    assert run.make.stdout is not None
    stdout = run.make.stdout
    # Its terminal: read all along, so that the services' log lines never fill the pipe.
    reader = threading.Thread(target=lambda: run.output.extend(stdout), daemon=True)
    reader.start()
    try:
        yield run
    finally:
        run.make.send_signal(signal.SIGTERM)
        run.make.wait(60)
        reader.join(10)
        stdout.close()
        assert run.all_stopped(), "make run left services running"


@pytest.fixture(scope="module")
def make_run_source(make_run: MakeRun) -> Source:
    """`make run`: no collector; the services send their metrics to the frontend server."""
    return Source(
        "make-run",
        f"http://127.0.0.1:{make_run.ports['FRONTEND_URL']}",
        f"http://127.0.0.1:{make_run.ports['ORDER_URL']}",
    )


SOURCES = {
    "collector": "collector_source",
    "collector-nginx": "nginx_source",
    "make-run": "make_run_source",
}


@pytest.fixture(scope="module", params=list(SOURCES))
def source(request: pytest.FixtureRequest) -> Source:
    found: Source = request.getfixturevalue(SOURCES[request.param])
    return found


# --- The tests -----------------------------------------------------------------------------


def test_an_orders_trace_is_the_exemplar_of_its_server_duration(
    source: Source, http: requests.Session
) -> None:
    """The SDK's ``trace_based`` exemplar filter (its default) and the Flask instrumentation,
    which records the duration inside the request's span: the exemplar names the order's
    trace and its server span, in the bucket its duration falls in."""
    trace_id, span_id = shop(http, source.origin)
    caught = catch(source.metrics, trace_id)
    exemplar = caught.bucket.exemplar
    assert exemplar is not None
    assert exemplar.labels == {"trace_id": trace_id, "span_id": span_id}
    assert exemplar.timestamp is not None
    assert 0 < exemplar.value <= float(caught.bucket.labels["le"])


def test_the_collectors_own_endpoint_serves_the_exemplar_the_page_reads(
    collector_source: Source, own_collector: Collector, http: requests.Session
) -> None:
    """What a Prometheus of your own scrapes (docs/telemetry.md): the same exemplar."""

    def scrape() -> str:
        answer = requests.get(
            f"{own_collector.prometheus_url}/metrics",
            headers={"Accept": OPENMETRICS_ACCEPT},
            timeout=TIMEOUT,
        )
        assert answer.headers["Content-Type"] == OPENMETRICS
        return answer.text

    trace_id, span_id = shop(http, collector_source.origin)
    exemplar = catch(scrape, trace_id).bucket.exemplar
    assert exemplar is not None and exemplar.labels["span_id"] == span_id


@pytest.mark.parametrize("source", ["collector", "make-run"], indirect=True)
def test_each_order_adds_one_to_its_count_and_to_the_orders_placed(source: Source) -> None:
    """Three orders on one connection (one gunicorn worker), each caught by its exemplar."""
    with requests.Session() as session:
        user_id = session.post(
            f"{source.origin}/users", json={"user_name": "C", "account": "c"}, timeout=TIMEOUT
        ).json()["id"]
        credited = session.put(
            f"{source.origin}/payments/transfer/id/{user_id}",
            json={"amount": 3 * PRICE},
            timeout=TIMEOUT,
        )
        assert credited.status_code == 200, credited.text
        caught = []
        for _ in range(3):
            placed = session.post(
                f"{source.order_url}/orders",
                json={"user_id": user_id, "product_id": 1},
                timeout=TIMEOUT,
            )
            assert placed.status_code == 201, placed.text
            caught.append(catch(source.metrics, ids_of(placed)[0]))
    assert len({each.instance for each in caught}) == 1
    first = caught[0]
    assert [each.count for each in caught] == [first.count, first.count + 1, first.count + 2]
    assert [each.placed for each in caught] == [first.placed, first.placed + 1, first.placed + 2]


def test_both_sources_serve_the_same_families_labels_and_exemplars(
    collector_source: Source, make_run_source: Source
) -> None:
    """The same clicks on compose's shape and on `make run`: the same families, each with the
    same label names, and the exemplars in the same form (values and instance ids aside)."""
    caught = {}
    for each in (collector_source, make_run_source):
        with requests.Session() as http:
            trace_id, _ = shop(http, each.origin)
        caught[each.name] = catch(each.metrics, trace_id)
    collector, local = (shape(caught[name].text) for name in ("collector", "make-run"))
    assert set(local) == set(collector)
    business_and_http = {DURATION, "app_orders", "app_credits", "app_money_moved", "target_info"}
    assert business_and_http <= set(collector)
    for name in collector:
        assert local[name][:2] == collector[name][:2], name
    exemplars = {name: found.bucket.exemplar for name, found in caught.items()}
    assert {name: set(e.labels) for name, e in exemplars.items() if e} == {
        "collector": {"trace_id", "span_id"},
        "make-run": {"trace_id", "span_id"},
    }


def test_every_worker_is_an_instance_of_its_own_whichever_frontend_worker_answers(
    make_run: MakeRun, make_run_source: Source
) -> None:
    """Two workers per service, two frontend workers taking their exports: once each worker
    has served a request (on a new connection each, so both get some), every read, on a new
    connection too (so both frontend workers answer), shows all six instances."""
    _, masters = make_run.runner_and_services()
    assert len(child_pids(masters["frontend"])) == 2
    close = {"Connection": "close"}
    port = make_run.ports
    user_id = requests.post(
        f"http://127.0.0.1:{port['USER_URL']}/users",
        json={"user_name": "W", "account": "w"},
        timeout=TIMEOUT,
    ).json()["id"]
    requests_per_service = [
        ("GET", f"http://127.0.0.1:{port['USER_URL']}/users/{user_id}", None),
        ("PUT", f"http://127.0.0.1:{port['PAYMENT_URL']}/payments/transfer/id/{user_id}", 1),
        ("GET", f"http://127.0.0.1:{port['ORDER_URL']}/products", None),
    ]

    def instances() -> set[tuple[str, str]]:
        """The instances /api/metrics shows, after a few more requests to each service."""
        for method, url, amount in requests_per_service:
            for _ in range(4):
                body = {"amount": amount} if amount else None
                reply = requests.request(method, url, json=body, headers=close, timeout=TIMEOUT)
                assert reply.ok, reply.text
        text = requests.get(f"{make_run_source.origin}/api/metrics", headers=close, timeout=TIMEOUT)
        found = families(text.text).get("target_info")
        return {(s.labels["job"], s.labels["instance"]) for s in found.samples} if found else set()

    seen = poll(instances, lambda found: len(found) == 2 * len(SERVICES), "six instances")
    assert sorted(job for job, _ in seen) == sorted(SERVICES * 2)
    for _ in range(6):
        text = requests.get(f"{make_run_source.origin}/api/metrics", headers=close, timeout=TIMEOUT)
        found = families(text.text)["target_info"]
        assert {(s.labels["job"], s.labels["instance"]) for s in found.samples} == seen
