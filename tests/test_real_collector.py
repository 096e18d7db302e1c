"""The real Collector in the SigNoz variant, and the real Collector and Jaeger restarting.

What runs for real: the three services under gunicorn; the project's Collector (the
``otelcol-contrib`` binary `make backends` builds) with ``common.yaml`` + ``signoz.yaml`` or
``jaeger.yaml``; Jaeger v2 with the project's config. One thing is a stand-in: SigNoz's ingest,
played by a second real Collector with a config of the tests' own
(``tests/fixtures/signoz-ingest-stand-in.yaml``) that checks the ``signoz-ingestion-key`` header
as SigNoz Cloud does and writes what it accepts to a file.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from devkit.backends import (
    COLLECTOR_BINARY,
    HOST,
    Collector,
    Jaeger,
    Program,
    own_metrics_on,
    start_on_free_ports,
)
from devkit.otlp_receiver import trace_id_of
from devkit.process import free_port
from tests.conftest import require_backends
from tests.helpers import TIMEOUT, create_user
from tests.stack import ROOT, ServiceProcess, Stack, base_env

STAND_IN_CONFIG = ROOT / "tests" / "fixtures" / "signoz-ingest-stand-in.yaml"
INGESTION_KEY = "test-ingestion-key"
SERVICES = frozenset({"user-service", "payment-service", "order-service"})
# What the file exporter calls each signal's top-level list, in the JSON lines it writes.
SIGNAL_OF = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}
DEADLINE_S = 60.0  # generous: the 2-core machine is shared
PRICE = 1200  # product 1

Reading = TypeVar("Reading")


def poll(read: Callable[[], Reading], done: Callable[[Reading], bool], what: str) -> Reading:
    """``read()`` until ``done`` holds for the reading; fail, naming ``what``, at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        reading = read()
        if done(reading):
            return reading
        last = repr(reading)[-2000:]
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE_S:g}s; last: {last}"
        time.sleep(0.2)


@pytest.fixture(scope="module", autouse=True)
def _built() -> None:
    require_backends()


@dataclass
class IngestStandIn(Program):
    """SigNoz's ingest, played by the real Collector (see the module's docstring): OTLP/gRPC on
    ``port`` for clients that send ``key``, and what it accepts in ``received_path``."""

    port: int = 0
    received_path: Path = Path()

    @classmethod
    def create(cls, log_dir: Path, key: str) -> IngestStandIn:
        grpc, health, metrics = (free_port() for _ in range(3))
        received = log_dir / "signoz-received.jsonl"
        args = [
            f"--config={STAND_IN_CONFIG}",
            f"--set=receivers::otlp::protocols::grpc::endpoint={HOST}:{grpc}",
            f"--set=extensions::health_check::endpoint={HOST}:{health}",
            own_metrics_on(metrics),
        ]
        return cls(
            binary=COLLECTOR_BINARY,
            args=args,
            log_path=log_dir / "signoz-stand-in.log",
            ready_url=f"http://{HOST}:{health}/",
            env={"SIGNOZ_INGESTION_KEY": key, "RECEIVED_PATH": str(received)},
            port=grpc,
            received_path=received,
        )

    @property
    def address(self) -> str:
        """host:port, as SIGNOZ_ENDPOINT."""
        return f"{HOST}:{self.port}"

    def received(self) -> set[tuple[str, str]]:
        """(signal, service.name) of everything written so far."""
        return {(signal_, service) for signal_, service, _ in self._resources()}

    def trace_ids(self, service: str) -> set[str]:
        """The trace ids of the spans ``service`` sent that were written so far."""
        return {
            span["traceId"]
            for signal_, name, resource in self._resources()
            if signal_ == "traces" and name == service
            for scope in resource["scopeSpans"]
            for span in scope["spans"]
        }

    def _resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        text = self.received_path.read_text() if self.received_path.exists() else ""
        complete = text[: text.rfind("\n") + 1]  # the file exporter may be mid-line
        for line in complete.splitlines():
            for key, resources in json.loads(line).items():
                for resource in resources:
                    yield SIGNAL_OF[key], service_name(resource), resource


def service_name(resource: dict[str, Any]) -> str:
    attributes = resource.get("resource", {}).get("attributes", [])
    names = [a["value"].get("stringValue", "") for a in attributes if a["key"] == "service.name"]
    return names[0] if names else ""


def signoz_collector(log_dir: Path, stand_in: IngestStandIn, key: str, name: str) -> Collector:
    """The project's Collector, ``common.yaml`` + ``signoz.yaml``, sending to ``stand_in``
    as to SigNoz on the Docker host (plaintext) with ``key``."""
    env = {"SIGNOZ_ENDPOINT": stand_in.address, "SIGNOZ_INSECURE": "true"}
    return Collector.create(log_dir, "signoz", {}, {**env, "SIGNOZ_INGESTION_KEY": key}, name)


def log_of(service: ServiceProcess) -> str:
    """The service's whole log (``ServiceProcess.log()`` keeps its tail only)."""
    return service.log_path.read_text(errors="replace")


def order(http: requests.Session, stack: Stack, user_id: int) -> requests.Response:
    """One order of product 1 by ``user_id``; it must be placed."""
    reply = http.post(
        stack.order.url + "/orders", json={"user_id": user_id, "product_id": 1}, timeout=TIMEOUT
    )
    assert reply.status_code == 201, reply.text
    return reply


# --- The SigNoz variant --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestStandIn]:
    log_dir = tmp_path_factory.mktemp("signoz")
    running = start_on_free_ports(lambda: IngestStandIn.create(log_dir, INGESTION_KEY))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def collector_for_signoz(
    stand_in: IngestStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Collector]:
    """The project's Collector in its SigNoz variant, with the right key."""
    log_dir = tmp_path_factory.mktemp("collector-for-signoz")
    running = start_on_free_ports(
        lambda: signoz_collector(log_dir, stand_in, INGESTION_KEY, "collector")
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def signoz_stack(
    collector_for_signoz: Collector, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The three services exporting to the project's Collector in its SigNoz variant."""
    env = base_env(
        DATABASE_URL=database_url, OTEL_EXPORTER_OTLP_ENDPOINT=collector_for_signoz.endpoint
    )
    running = Stack.start(tmp_path_factory.mktemp("signoz-stack"), env)
    yield running
    running.stop()


def test_signoz_gets_traces_metrics_and_logs_of_all_three_services(
    signoz_stack: Stack, stand_in: IngestStandIn, http: requests.Session
) -> None:
    user = create_user(http, signoz_stack, balance=PRICE)  # a transfer: payment, then users
    placed = trace_id_of(order(http, signoz_stack, user["id"]))

    wanted = {(signal_, service) for signal_ in SIGNAL_OF.values() for service in SERVICES}
    poll(stand_in.received, lambda got: wanted <= got, "signal of every service at the stand-in")
    poll(
        lambda: {s for s in SERVICES if placed in stand_in.trace_ids(s)},
        lambda services: {"order-service", "user-service"} <= services,
        "span of the order's trace from order and users",
    )


def test_a_wrong_ingestion_key_is_refused_and_the_collector_says_so(
    database_url: str, tmp_path: Path
) -> None:
    stand_in = IngestStandIn.create(tmp_path, INGESTION_KEY)
    collector = signoz_collector(tmp_path, stand_in, "wrong-key", "collector")
    users = ServiceProcess(
        "users",
        base_env(DATABASE_URL=database_url, OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint),
        tmp_path / "users.log",
    )
    try:
        stand_in.start()
        collector.start()
        users.start().wait_ready()
        created = requests.post(
            users.url + "/users", json={"user_name": "Key", "account": "k"}, timeout=TIMEOUT
        )
        assert created.status_code == 201, created.text

        # Barrier: the Collector has been refused for each signal (the services' trace, the log
        # line of the new user, the metrics every second).
        refused = re.compile(
            r'Exporting failed. Dropping data.*"otelcol.signal": "(\w+)".*code = Unauthenticated'
        )
        poll(
            lambda: {m[1] for m in map(refused.search, collector.log().splitlines()) if m},
            lambda signals: signals == set(SIGNAL_OF.values()),
            "refusal (Unauthenticated) of each signal in the Collector's log",
        )
        stand_in.stop()  # the file exporter writes out what it holds on the way out
        assert stand_in.received() == set()
    finally:
        users.stop()
        collector.stop()
        stand_in.stop()


def test_a_service_sending_a_wrong_key_straight_to_signoz_says_it_was_refused(
    stand_in: IngestStandIn, database_url: str, tmp_path: Path
) -> None:
    """As with SigNoz Cloud without a Collector: the key in OTEL_EXPORTER_OTLP_HEADERS."""
    endpoint = f"http://{stand_in.address}"
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_HEADERS="signoz-ingestion-key=wrong",
    )
    users = ServiceProcess("users", env, tmp_path / "users.log")
    try:
        users.start().wait_ready()
        requests.get(users.url + "/users/1", timeout=TIMEOUT)
        said = poll(
            lambda: re.findall(
                rf"traces export to OTLP/gRPC {re.escape(endpoint)} .*", log_of(users)
            ),
            bool,
            "export-problem line for traces",
        )
    finally:
        users.stop()
    assert "failed: rejected (UNAUTHENTICATED)." in said[0]
    assert "OTEL_EXPORTER_OTLP_HEADERS" in said[0] and "signoz-ingestion-key" in said[0]


# --- Restarts ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    """A Jaeger of this module's own: its tests kill it."""
    log_dir = tmp_path_factory.mktemp("own-jaeger")
    running = start_on_free_ports(lambda: Jaeger.create(log_dir))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def own_collector(
    own_jaeger: Jaeger, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Collector]:
    """A Collector of this module's own (``common.yaml`` + ``jaeger.yaml``): its tests kill it."""
    log_dir = tmp_path_factory.mktemp("own-collector")
    running = start_on_free_ports(lambda: Collector.for_jaeger(log_dir, own_jaeger))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def traced_stack(
    own_collector: Collector, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = base_env(DATABASE_URL=database_url, OTEL_EXPORTER_OTLP_ENDPOINT=own_collector.endpoint)
    running = Stack.start(tmp_path_factory.mktemp("traced-stack"), env)
    yield running
    running.stop()


class Load:
    """Orders and transfers for one user from a background thread, each status recorded
    (``None``: no answer)."""

    def __init__(self, stack: Stack, user_id: int) -> None:
        self.stack, self.user_id = stack, user_id
        self.statuses: list[int | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        placing = (
            "POST",
            self.stack.order.url + "/orders",
            {"user_id": self.user_id, "product_id": 1},
        )
        crediting = (
            "PUT",
            f"{self.stack.payment.url}/payments/transfer/id/{self.user_id}",
            {"amount": 100},
        )
        with requests.Session() as session:
            while not self._stop.is_set():
                for method, url, body in (placing, crediting):
                    try:
                        reply = session.request(method, url, json=body, timeout=TIMEOUT)
                        self.statuses.append(reply.status_code)
                    except requests.RequestException:
                        self.statuses.append(None)
                self._stop.wait(0.05)

    def count(self) -> int:
        """How many requests have been answered (or not) so far."""
        return len(self.statuses)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


def wait_for_trace(jaeger: Jaeger, trace_id: str, services: set[str]) -> dict[str, Any]:
    """The trace, once Jaeger holds spans of every one of ``services`` in it."""

    def services_in(trace: dict[str, Any] | None) -> set[str]:
        return {p["serviceName"] for p in trace["processes"].values()} if trace else set()

    trace = poll(
        lambda: jaeger.trace(trace_id),
        lambda found: services <= services_in(found),
        f"trace {trace_id} with spans of {sorted(services)} in Jaeger",
    )
    assert trace is not None
    return trace


def test_a_killed_collector_restarted_on_its_ports_loses_no_request_and_export_resumes(
    traced_stack: Stack, own_collector: Collector, own_jaeger: Jaeger, http: requests.Session
) -> None:
    user = create_user(http, traced_stack, balance=10_000_000)
    # A killed Collector refuses connections, or resets the one an export was using.
    failed = re.compile(
        rf"traces export to OTLP/gRPC {re.escape(own_collector.endpoint)} "
        r"failed: (refused|dropped)\. Check: "
    )
    with Load(traced_stack, user["id"]) as load:
        poll(load.count, lambda sent: sent >= 4, "requests under load")
        own_collector.stop(signal.SIGKILL)
        at_kill = load.count()
        poll(load.count, lambda sent: sent >= at_kill + 4, "requests with the Collector down")
        for service in traced_stack.services:
            poll(
                partial(log_of, service),
                lambda log: failed.search(log) is not None,
                f"export-problem line of {service.name}",
            )
        own_collector.start()
        after = trace_id_of(order(http, traced_stack, user["id"]))
        wait_for_trace(own_jaeger, after, {"order-service", "user-service"})
        at_resume = load.count()
        poll(load.count, lambda sent: sent >= at_resume + 4, "requests after the restart")
    assert set(load.statuses) <= {200, 201}, sorted(map(str, set(load.statuses)))


def test_a_killed_jaeger_restarted_has_lost_the_old_traces_and_stores_new_ones(
    traced_stack: Stack, own_jaeger: Jaeger, http: requests.Session, tmp_path: Path
) -> None:
    """Read as the page reads them: through the frontend's ``/api/traces/<id>``."""
    frontend = ServiceProcess(
        "frontend",
        traced_stack.frontend_env(JAEGER_QUERY_URL=own_jaeger.query_url),
        tmp_path / "frontend.log",
    )
    frontend.start().wait_ready()
    try:
        user = create_user(http, traced_stack, balance=PRICE * 2)
        before = trace_id_of(order(http, traced_stack, user["id"]))
        wait_for_trace(own_jaeger, before, {"order-service", "user-service"})
        assert http.get(f"{frontend.url}/api/traces/{before}", timeout=TIMEOUT).status_code == 200

        own_jaeger.stop(signal.SIGKILL)
        own_jaeger.start()
        # Memory storage: gone with the process, and the page's source says so.
        assert http.get(f"{frontend.url}/api/traces/{before}", timeout=TIMEOUT).status_code == 404

        after = trace_id_of(order(http, traced_stack, user["id"]))
        wait_for_trace(own_jaeger, after, {"order-service", "user-service"})
        answer = http.get(f"{frontend.url}/api/traces/{after}", timeout=TIMEOUT)
        assert answer.status_code == 200
        assert len(answer.json()["data"][0]["spans"]) >= 5  # order's spans and the users call's
    finally:
        frontend.stop()
