"""Export settings end to end: every supported way of reaching a collector delivers spans."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from devkit.otlp_receiver import OtlpReceiver, trace_id_of
from tests.helpers import TIMEOUT
from tests.stack import ServiceProcess, base_env


def _bare(endpoint: str) -> str:
    return endpoint.removeprefix("http://")


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(lambda r: {"OTEL_EXPORTER_OTLP_ENDPOINT": r.endpoint}, id="grpc"),
        pytest.param(
            lambda r: {"OTEL_EXPORTER_OTLP_ENDPOINT": _bare(r.endpoint), "INSECURE_MODE": "true"},
            id="grpc-go-sample-bare-endpoint-insecure-mode",
        ),
        pytest.param(
            lambda r: {
                "OTEL_EXPORTER_OTLP_ENDPOINT": r.http_endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            },
            id="http-protobuf",
        ),
        pytest.param(
            lambda r: {
                "OTEL_EXPORTER_OTLP_ENDPOINT": r.http_endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-demo-token=abc",
                "SIGNOZ_ACCESS_TOKEN": "s3cret",
            },
            id="http-protobuf-with-headers-and-signoz-token",
        ),
    ],
)
def test_spans_arrive_over_each_protocol(
    settings: object, receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    env = base_env(DATABASE_URL=database_url, **settings(receiver))  # type: ignore[operator]
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    try:
        reply = requests.post(
            users.url + "/users", json={"user_name": "Exp", "account": "e"}, timeout=TIMEOUT
        )
        assert reply.status_code == 201
        spans = receiver.wait_for_trace(
            trace_id_of(reply), lambda found: any(s.name == "create user" for s in found)
        )
        assert {s.service for s in spans} == {"user-service"}
        if "SIGNOZ_ACCESS_TOKEN" in env:
            assert any(
                h.get("signoz-access-token") == "s3cret" and h.get("x-demo-token") == "abc"
                for h in receiver.http_headers
            )
    finally:
        users.stop()
