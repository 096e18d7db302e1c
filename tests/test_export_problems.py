"""Where is my telemetry? A real service says where it sends each signal, and each kind of
export failure it can hit ends in one line naming the endpoint and the kind, once per process
(then reminders), instead of the exporter's line per batch."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
import requests

from devkit.otlp_receiver import OtlpReceiver
from devkit.process import free_port
from tests.fake_peers import BlackHole, CannedServer, DroppingPeer
from tests.stack import ServiceProcess, base_env

# Each case: what the collector is, the variables that point the service at it, the kind.
Peer = Callable[[OtlpReceiver], tuple[AbstractContextManager[object], dict[str, str]]]


def refusing(_: OtlpReceiver) -> tuple[AbstractContextManager[object], dict[str, str]]:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return nullcontext(), {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}


def unresolvable(_: OtlpReceiver) -> tuple[AbstractContextManager[object], dict[str, str]]:
    return nullcontext(), {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.invalid:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }


def tls_to_plaintext(
    receiver: OtlpReceiver,
) -> tuple[AbstractContextManager[object], dict[str, str]]:
    endpoint = receiver.endpoint.replace("http://", "https://")
    return nullcontext(), {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}


def hanging(_: OtlpReceiver) -> tuple[AbstractContextManager[object], dict[str, str]]:
    hole = BlackHole()
    return hole, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{hole.port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }


def dropping(_: OtlpReceiver) -> tuple[AbstractContextManager[object], dict[str, str]]:
    peer = DroppingPeer()
    return peer, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{peer.port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }


def unauthorized(_: OtlpReceiver) -> tuple[AbstractContextManager[object], dict[str, str]]:
    server = CannedServer(401, b'{"error": "no key"}')
    return server, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }


def other_protocol(receiver: OtlpReceiver) -> tuple[AbstractContextManager[object], dict[str, str]]:
    return nullcontext(), {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint}  # gRPC to HTTP


CASES = {
    "wrong protocol": other_protocol,
    "refused": refusing,
    "name not found": unresolvable,
    "TLS": tls_to_plaintext,
    "timeout": hanging,
    "dropped": dropping,
    "rejected (HTTP 401)": unauthorized,
}


@pytest.fixture(params=list(CASES), ids=lambda kind: kind.replace(" ", "-"))
def failing(
    request: pytest.FixtureRequest, receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> Iterator[tuple[str, ServiceProcess, str]]:
    """A users service (one worker) whose traces cannot be exported, for each kind of failure."""
    kind = request.param
    peer, variables = CASES[kind](receiver)
    env = base_env(
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="1",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        EXPORT_PROBLEM_INTERVAL_SECONDS="1",
        **variables,
    )
    with peer:
        users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
        try:
            yield kind, users, variables["OTEL_EXPORTER_OTLP_ENDPOINT"]
        finally:
            users.stop()


def test_each_export_failure_is_one_line_with_the_endpoint_and_the_kind(
    failing: tuple[str, ServiceProcess, str],
) -> None:
    kind, users, endpoint = failing
    # Barrier: export failures go on until the first reminder, a second after the first line;
    # by then every failure before it has been seen, and said once.
    deadline = time.monotonic() + 90
    while "traces export to" not in users.log() or "still failing" not in users.log():
        assert time.monotonic() < deadline, users.log()
        requests.get(users.url + "/users/1", timeout=30)
    lines = users.log().splitlines()
    said = [line for line in lines if re.search(r"traces export to .* failed: ", line)]
    assert len(said) == 1, "\n".join(said)
    assert endpoint.split("://")[1] in said[0]
    assert f"failed: {kind}." in said[0], said[0]
    assert "Check:" in said[0]
    assert not [line for line in lines if "opentelemetry.exporter" in line and "ERROR" in line]


def test_at_start_each_process_says_where_each_signal_goes(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = base_env(
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="1",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="console",
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    users.stop()
    (line,) = [line for line in users.log().splitlines() if "[telemetry] " in line]
    assert line.endswith(
        f"sending traces -> OTLP/gRPC http://127.0.0.1:{port}; metrics -> none; logs -> console"
    )
