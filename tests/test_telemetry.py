"""All three signals through the OpenTelemetry distro, and the standard switches that steer it.

Every test starts real services under gunicorn that export to a real OTLP receiver.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import requests

from devkit.otlp_receiver import OtlpReceiver, ReceivedPoint, trace_id_of
from devkit.process import free_port
from shared.launch.process import wait_until_ready
from tests.helpers import TIMEOUT, create_user
from tests.stack import ROOT, ServiceProcess, Stack, base_env

INFO, WARN = 9, 13


def newest_per_series(points: Iterable[ReceivedPoint]) -> list[ReceivedPoint]:
    """The newest point of each series (cumulative points are re-sent on every export)."""
    newest: dict[tuple[str, str, str | None, str], ReceivedPoint] = {}
    for point in points:
        key = (point.name, point.service, point.instance_id, repr(sorted(point.attributes.items())))
        if key not in newest or point.time_ns >= newest[key].time_ns:
            newest[key] = point
    return list(newest.values())


def total(points: Iterable[ReceivedPoint], name: str, service: str, **attributes: object) -> int:
    """The sum over every worker's newest point (a histogram counts its recordings)."""
    matching = [
        p
        for p in newest_per_series(points)
        if p.name == name
        and p.service == service
        and all(p.attributes.get(k) == v for k, v in attributes.items())
    ]
    return sum(p.count if p.kind == "histogram" else int(p.value) for p in matching)


@pytest.fixture
def own_receiver() -> Iterator[OtlpReceiver]:
    """A receiver for one test alone: everything it gets came from that test's services."""
    otlp = OtlpReceiver().start()
    yield otlp
    otlp.stop()


@pytest.fixture
def metered_stack(database_url: str, own_receiver: OtlpReceiver, tmp_path: Path) -> Iterator[Stack]:
    """A fresh stack whose counters start at zero, exporting to ``own_receiver``."""
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=own_receiver.endpoint,
        WEB_CONCURRENCY="2",  # a test here is about every worker's own series
    )
    running = Stack.start(tmp_path, env)
    yield running
    running.stop()


def test_the_logs_of_an_order_carry_its_trace_id(
    stack: Stack, receiver: OtlpReceiver, http: requests.Session
) -> None:
    user = create_user(http, stack, balance=10_000)
    reply = http.post(
        stack.order.url + "/orders", json={"user_id": user["id"], "product_id": 1}, timeout=TIMEOUT
    )
    assert reply.status_code == 201, reply.text
    trace_id = trace_id_of(reply)
    placed = f"order {reply.json()['id']} placed"
    (log,) = receiver.wait_for_logs(
        lambda found: any(placed in str(log.body) for log in found),
        lambda log: log.trace_id == trace_id,
    )
    assert (log.service, log.severity_number, log.severity_text) == ("order-service", INFO, "INFO")
    assert len(log.span_id) == 16
    # The same line reaches stdout, with the same trace id.
    assert any(
        placed in line and f"trace_id={trace_id}" in line for line in stack.order.log().splitlines()
    )


def test_a_refused_order_is_logged_in_its_trace(
    stack: Stack, receiver: OtlpReceiver, http: requests.Session
) -> None:
    user = create_user(http, stack)
    reply = http.post(
        stack.order.url + "/orders", json={"user_id": user["id"], "product_id": 1}, timeout=TIMEOUT
    )
    assert reply.status_code == 422
    trace_id = trace_id_of(reply)
    (log,) = receiver.wait_for_logs(bool, lambda log: log.trace_id == trace_id)
    assert "refused (insufficient_funds)" in str(log.body) and log.severity_number == INFO


def test_a_server_side_failure_is_logged_as_a_warning_in_its_trace(
    stack: Stack, receiver: OtlpReceiver, http: requests.Session
) -> None:
    user = create_user(http, stack)
    for _ in range(40):  # payment-failure rejects about half of all credits
        reply = http.put(
            f"{stack.payment.url}/payments/transfer/id/{user['id']}",
            json={"amount": 100},
            headers={"baggage": "demo.scenario=payment-failure"},
            timeout=TIMEOUT,
        )
        if reply.status_code == 503:
            break
    assert reply.status_code == 503, "payment-failure never rejected a credit"
    trace_id = trace_id_of(reply)
    warnings = receiver.wait_for_logs(
        lambda found: {log.service for log in found} >= {"user-service", "payment-service"},
        lambda log: log.trace_id == trace_id and log.severity_number == WARN,
    )
    assert any("credit_rejected" in str(log.body) for log in warnings)


def test_metrics_count_every_request_and_every_business_outcome(
    metered_stack: Stack, own_receiver: OtlpReceiver
) -> None:
    stack, placed, refused = metered_stack, 3, 2
    with requests.Session() as http:
        catalog = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()
        price = next(product["price"] for product in catalog if product["id"] == 1)
        user = create_user(http, stack, balance=placed * price)
        statuses = [
            http.post(
                stack.order.url + "/orders",
                json={"user_id": user["id"], "product_id": 1},
                timeout=TIMEOUT,
            ).status_code
            for _ in range(placed + refused)
        ]
    assert statuses == [201] * placed + [422] * refused

    def counted(points: list[ReceivedPoint]) -> bool:
        return (
            total(points, "app.orders", "order-service", **{"app.outcome": "placed"}) == placed
            and total(points, "app.credits", "user-service", **{"app.outcome": "applied"}) == 1
            and total(
                points,
                "http.server.request.duration",
                "order-service",
                **{"http.route": "/orders", "http.request.method": "POST"},
            )
            == placed + refused
        )

    points = own_receiver.wait_for_points(counted)
    refusals = {"app.outcome": "refused", "app.error": "insufficient_funds"}
    assert total(points, "app.orders", "order-service", **refusals) == refused
    assert total(points, "app.money.moved", "order-service", **{"app.flow": "order"}) == (
        placed * price
    )
    assert total(points, "app.money.moved", "user-service", **{"app.flow": "transfer"}) == (
        placed * price
    )
    # order -> users: one client call per order, each timed by the requests instrumentation.
    client = total(points, "http.client.request.duration", "order-service")
    assert client == placed + refused
    # No user ids in any metric: attributes stay low-cardinality.
    assert not any("app.user.id" in p.attributes or "app.order.id" in p.attributes for p in points)


def test_every_gunicorn_worker_exports_its_own_series(
    metered_stack: Stack, own_receiver: OtlpReceiver
) -> None:
    """Two workers, two ``service.instance.id`` values: their series never collide."""
    sent = 0
    points: list[ReceivedPoint] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len({p.instance_id for p in points}) < 2:
        for _ in range(20):  # a new connection each time, so both workers get some
            reply = requests.get(
                metered_stack.users.url + "/users/1",
                headers={"Connection": "close"},
                timeout=TIMEOUT,
            )
            assert reply.status_code in (200, 404)
            sent += 1
        try:  # both workers' series, or (one worker got all 20) another round
            points = own_receiver.wait_for_points(
                lambda found: len({p.instance_id for p in found}) == 2,
                lambda p: p.name == "http.server.request.duration" and p.service == "user-service",
                timeout=3,
            )
        except AssertionError:
            continue
    instances = {p.instance_id for p in points}
    assert len(instances) == 2 and None not in instances
    own_receiver.wait_for_points(
        lambda found: total(found, "http.server.request.duration", "user-service") == sent,
        lambda point: point.service == "user-service",
    )


def _start_users(
    receiver: OtlpReceiver, database_url: str, tmp_path: Path, **settings: str
) -> ServiceProcess:
    env = base_env(
        DATABASE_URL=database_url, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, **settings
    )
    return ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()


def _create_user(service: ServiceProcess) -> requests.Response:
    reply = requests.post(
        service.url + "/users", json={"user_name": "Switch", "account": "s"}, timeout=TIMEOUT
    )
    assert reply.status_code == 201, reply.text
    return reply


# Every exporter value for every signal, in three runs.
EXPORTER_COMBINATIONS = [
    {"traces": "otlp", "metrics": "console", "logs": "none"},
    {"traces": "console", "metrics": "none", "logs": "otlp"},
    {"traces": "none", "metrics": "otlp", "logs": "console"},
]
# What each signal's console exporter prints for this service.
CONSOLE_MARKS = {
    "traces": '"name": "create user"',
    "metrics": '"name": "http.server.request.duration"',
    "logs": '"body": "created user',
}


@pytest.mark.parametrize(
    "exporters", EXPORTER_COMBINATIONS, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items())
)
def test_each_signal_has_its_own_exporter_switch(
    exporters: dict[str, str], own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    settings = {f"OTEL_{signal.upper()}_EXPORTER": name for signal, name in exporters.items()}
    users = _start_users(own_receiver, database_url, tmp_path, **settings)
    try:
        trace_id = trace_id_of(_create_user(users))
        otlp = next(signal for signal, name in exporters.items() if name == "otlp")
        if otlp == "traces":
            own_receiver.wait_for_trace(trace_id, lambda s: any(x.name == "create user" for x in s))
        elif otlp == "logs":
            own_receiver.wait_for_logs(bool, lambda log: log.trace_id == trace_id)
        else:
            own_receiver.wait_for_points(
                lambda found: bool(found), lambda p: p.name == "http.server.request.duration"
            )
    finally:
        users.flush_and_stop()  # whatever else was going to arrive has now
    received = {
        "traces": bool(own_receiver.spans()),
        "metrics": bool(own_receiver.points()),
        "logs": bool(own_receiver.logs()),
    }
    assert received == {signal: name == "otlp" for signal, name in exporters.items()}
    log = users.log_path.read_text()  # all of it: console exports are long
    for signal, name in exporters.items():
        assert (CONSOLE_MARKS[signal] in log) == (name == "console"), signal


@pytest.mark.parametrize(
    ("protocol", "transport"), [("grpc", "grpc"), ("http/protobuf", "http")], ids=["grpc", "http"]
)
def test_one_protocol_switch_carries_all_three_signals(
    protocol: str, transport: str, own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    endpoint = own_receiver.endpoint if transport == "grpc" else own_receiver.http_endpoint
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    try:
        trace_id = trace_id_of(_create_user(users))
        own_receiver.wait_for_trace(trace_id, lambda s: any(x.name == "create user" for x in s))
        own_receiver.wait_for_logs(bool, lambda log: log.trace_id == trace_id)
        own_receiver.wait_for_points(bool, lambda p: p.name == "http.server.request.duration")
    finally:
        users.stop()
    assert set(own_receiver.received_via) == {
        (transport, "traces"),
        (transport, "logs"),
        (transport, "metrics"),
    }


def test_debug_logging_over_http_neither_loops_nor_loses_the_format(
    own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    """The exporter's own HTTP client logs at DEBUG; those lines must not be exported again."""
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=own_receiver.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        LOG_LEVEL="DEBUG",
        OTEL_PYTHON_LOG_FORMAT="CUSTOM %(levelname)s trace=%(otelTraceID)s %(message)s",
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    try:
        trace_id = trace_id_of(_create_user(users))
        own_receiver.wait_for_logs(bool, lambda log: log.trace_id == trace_id)
        # A sentinel: the exports so far logged their HTTP lines before this record was queued,
        # and records are exported in order, so once it is here any fed-back line is too.
        sentinel = trace_id_of(_create_user(users))
        own_receiver.wait_for_logs(bool, lambda log: log.trace_id == sentinel)
    finally:
        users.flush_and_stop()
    bodies = [str(log.body) for log in own_receiver.logs()]
    # The HTTP client's request lines ("POST /v1/logs HTTP/1.1" 200), fed back, would be here.
    fed_back = [body for body in bodies if '"POST /v1/logs' in body or '"POST /v1/metrics' in body]
    assert not fed_back, bodies
    assert any(
        line.startswith("CUSTOM INFO trace=") and f"trace={trace_id} created user" in line
        for line in users.log().splitlines()
    )


def test_disabled_instrumentations_drop_their_spans(
    own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    users = _start_users(
        own_receiver, database_url, tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sqlalchemy"
    )
    try:
        trace_id = trace_id_of(_create_user(users))
        own_receiver.wait_for_trace(
            trace_id, lambda found: {s.name for s in found} >= {"POST /users", "create user"}
        )
    finally:
        users.flush_and_stop()
    spans = [s for s in own_receiver.spans() if s.trace_id == trace_id]
    assert not [s for s in spans if "db.system" in s.attributes], [s.name for s in spans]


def test_resource_attributes_label_every_signal(
    own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex
    users = _start_users(
        own_receiver,
        database_url,
        tmp_path,
        OTEL_RESOURCE_ATTRIBUTES=f"deployment.environment.name=test,test.run={run}",
    )
    try:
        trace_id = trace_id_of(_create_user(users))
        spans = own_receiver.wait_for_trace(trace_id, bool)
        logs = own_receiver.wait_for_logs(bool, lambda log: log.trace_id == trace_id)
        points = own_receiver.wait_for_points(bool)
    finally:
        users.stop()
    for resource in (spans[0].resource, logs[0].resource, points[0].resource):
        assert resource["test.run"] == run
        assert resource["deployment.environment.name"] == "test"
        assert resource["service.name"] == "user-service"


def test_the_sampler_switch_drops_spans_but_logs_keep_their_trace_ids(
    own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    users = _start_users(own_receiver, database_url, tmp_path, OTEL_TRACES_SAMPLER="always_off")
    try:
        reply = _create_user(users)
        trace_id = trace_id_of(reply)
        flags = int(reply.headers["traceresponse"].rsplit("-", 1)[1], 16)
        assert not flags & 1  # the W3C "sampled" flag is off
        own_receiver.wait_for_logs(bool, lambda log: log.trace_id == trace_id)
    finally:
        users.flush_and_stop()
    assert own_receiver.spans() == []


def test_sdk_disabled_sends_nothing_and_the_service_still_works(
    own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    users = _start_users(own_receiver, database_url, tmp_path, OTEL_SDK_DISABLED="true")
    try:
        reply = _create_user(users)
        assert "traceresponse" not in reply.headers
    finally:
        users.flush_and_stop()
    assert (own_receiver.spans(), own_receiver.logs(), own_receiver.points()) == ([], [], [])
    assert "trace_id=0 span_id=0 created user" in users.log()


def test_one_process_the_opentelemetry_instrument_way(
    own_receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    """``opentelemetry-instrument flask --app users run``: no gunicorn, no project hook."""
    port = free_port()
    bin_dir = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_SERVICE_NAME="user-service",
        OTEL_EXPORTER_OTLP_ENDPOINT=own_receiver.endpoint,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    )
    command = ["opentelemetry-instrument", "flask", "--app", "users", "run", "--port", str(port)]
    with open(tmp_path / "flask.log", "wb") as log:
        process = subprocess.Popen(
            [str(bin_dir / command[0]), *command[1:]],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, 60, path="/healthz")
        reply = requests.post(
            url + "/users", json={"user_name": "One", "account": "o"}, timeout=TIMEOUT
        )
        assert reply.status_code == 201, (tmp_path / "flask.log").read_text()
        spans = own_receiver.wait_for(
            lambda found: (
                {s.name for s in found} >= {"POST /users", "create user"}
                and any("db.system" in s.attributes for s in found)
            )
        )
        assert {s.service for s in spans} == {"user-service"}
    finally:
        process.terminate()
        process.wait(30)
