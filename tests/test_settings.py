"""Configuration: the Go sample's variables keep working beside the standard OTEL_* ones."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from sqlalchemy import make_url

from shared.settings import ConfigError, Settings, database_url_from_env, normalize_base_url
from shared.telemetry import SpanLineExporter, _http_traces_endpoint, build_span_exporter


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:8080", "http://localhost:8080"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("https://users.example:443", "https://users.example:443"),
        (" user-service:8080 ", "http://user-service:8080"),
    ],
)
def test_user_url_accepts_the_bare_and_the_full_form(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


def test_database_defaults_to_embedded_sqlite() -> None:
    assert make_url(database_url_from_env({})).get_backend_name() == "sqlite"


def test_database_url_wins_over_sql_variables() -> None:
    env = {"DATABASE_URL": "mysql+pymysql://a@b/c", "SQL_HOST": "ignored:3306"}
    assert database_url_from_env(env) == "mysql+pymysql://a@b/c"


def test_go_sample_sql_variables_build_a_mysql_url_with_an_escaped_password() -> None:
    url = make_url(
        database_url_from_env(
            {
                "SQL_USER": "app",
                "SQL_PASSWORD": "p@ss:w/rd",
                "SQL_HOST": "db:3307",
                "SQL_DB": "shop",
            }
        )
    )
    assert (url.drivername, url.username, url.password) == ("mysql+pymysql", "app", "p@ss:w/rd")
    assert (url.host, url.port, url.database) == ("db", 3307, "shop")


def test_sql_variables_without_a_host_are_an_error() -> None:
    with pytest.raises(ConfigError):
        database_url_from_env({"SQL_USER": "app"})


@pytest.mark.parametrize("name", ["HTTP_READ_TIMEOUT", "MAX_BODY_BYTES"])
@pytest.mark.parametrize("value", ["abc", "0", "-1"])
def test_bad_numbers_fail_loudly(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_no_endpoint_means_readable_spans_in_a_file() -> None:
    exporter = build_span_exporter({"SPANS_FILE": "-"})
    assert isinstance(exporter, SpanLineExporter)


def test_endpoint_means_otlp_grpc_by_default() -> None:
    exporter = build_span_exporter(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317", "INSECURE_MODE": "true"}
    )
    assert isinstance(exporter, GrpcSpanExporter)
    exporter.shutdown()


def test_signoz_token_is_sent_as_a_header() -> None:
    exporter = build_span_exporter(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=demo",
            "SIGNOZ_ACCESS_TOKEN": "s3cret",
        }
    )
    assert isinstance(exporter, GrpcSpanExporter)
    headers = dict(exporter._headers)
    assert headers["signoz-access-token"] == "s3cret" and headers["x-team"] == "demo"
    exporter.shutdown()


def test_http_protobuf_protocol_and_bare_endpoint() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    assert _http_traces_endpoint(env, None) == "http://collector:4318/v1/traces"
    assert isinstance(build_span_exporter(env), HttpSpanExporter)


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "x:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "x:1", "INSECURE_MODE": "maybe"},
    ],
)
def test_unsupported_telemetry_settings_fail_loudly(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        build_span_exporter(env)


def test_exporter_none_disables_export() -> None:
    assert build_span_exporter({"OTEL_TRACES_EXPORTER": "none"}) is None
