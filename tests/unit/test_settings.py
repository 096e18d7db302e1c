"""Configuration: the Go sample's variables keep working beside the standard OTEL_* ones."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from sqlalchemy import make_url

from shared.settings import ConfigError, Settings, database_url_from_env, normalize_base_url
from shared.span_lines import SpanLineExporter
from shared.telemetry import apply_go_sample_variables


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


def test_go_sample_insecure_mode_is_the_standard_insecure_switch() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317", "INSECURE_MODE": "True"}
    apply_go_sample_variables(env)
    assert env["OTEL_EXPORTER_OTLP_INSECURE"] == "true"


def test_the_standard_insecure_switch_wins_over_insecure_mode() -> None:
    env = {"INSECURE_MODE": "true", "OTEL_EXPORTER_OTLP_INSECURE": "false"}
    apply_go_sample_variables(env)
    assert env["OTEL_EXPORTER_OTLP_INSECURE"] == "false"


def test_signoz_token_joins_the_standard_headers() -> None:
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "x-team=demo", "SIGNOZ_ACCESS_TOKEN": "s3cret"}
    apply_go_sample_variables(env)
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "x-team=demo,signoz-access-token=s3cret"
    alone = {"SIGNOZ_ACCESS_TOKEN": "s3cret"}
    apply_go_sample_variables(alone)
    assert alone["OTEL_EXPORTER_OTLP_HEADERS"] == "signoz-access-token=s3cret"


def test_a_bad_insecure_mode_fails_loudly() -> None:
    with pytest.raises(ConfigError):
        apply_go_sample_variables({"INSECURE_MODE": "maybe"})


def test_span_lines_exporter_is_registered_by_name() -> None:
    (entry_point,) = entry_points(group="opentelemetry_traces_exporter", name="span_lines")
    assert entry_point.load() is SpanLineExporter
