"""Configuration: one settings model; the Go sample's variables keep working beside OTEL_*."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from sqlalchemy import make_url

from frontend.settings import FrontendSettings
from shared import init_db
from shared.launch import local, serve
from shared.log_lines import LogLineExporter
from shared.scenarios import Scenario
from shared.settings import DEFAULT_SQLITE_URL, ConfigError, Settings
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
    assert Settings.from_env({"USER_URL": given}).user_url == expected


def test_defaults_need_no_variable_at_all() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_SQLITE_URL
    assert settings.default_scenario is None
    assert settings.cors_allowed_origins == ("http://localhost:5000", "http://127.0.0.1:5000")


def test_the_process_environment_is_read_through_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "http://a.example/, http://b.example")
    monkeypatch.setenv("DEFAULT_SCENARIO", "")  # empty is unset, as compose's ${X:-}
    settings = Settings.from_env()
    assert settings.http_read_timeout == 2.5
    assert settings.cors_allowed_origins == ("http://a.example", "http://b.example")
    assert settings.default_scenario is None


def test_a_given_mapping_is_read_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_FAILURE_RATE", "0.9")
    monkeypatch.setenv("DATABASE_URL", "mysql+pymysql://a@b/c")
    assert Settings.from_env({}).payment_failure_rate == 0.5
    assert Settings.from_env({}).database_url == DEFAULT_SQLITE_URL
    assert Settings.from_env().payment_failure_rate == 0.9


def test_database_url_wins_over_sql_variables() -> None:
    env = {"DATABASE_URL": "mysql+pymysql://a@b/c", "SQL_HOST": "ignored:3306"}
    assert Settings.from_env(env).database_url == "mysql+pymysql://a@b/c"


def test_go_sample_sql_variables_build_a_mysql_url_with_an_escaped_password() -> None:
    env = {"SQL_USER": "app", "SQL_PASSWORD": "p@ss:w/rd", "SQL_HOST": "db:3307", "SQL_DB": "shop"}
    url = make_url(Settings.from_env(env).database_url)
    assert (url.drivername, url.username, url.password) == ("mysql+pymysql", "app", "p@ss:w/rd")
    assert (url.host, url.port, url.database) == ("db", 3307, "shop")


def test_sql_variables_without_a_host_are_an_error() -> None:
    with pytest.raises(ConfigError, match="SQL_HOST"):
        Settings.from_env({"SQL_USER": "app"})


@pytest.mark.parametrize("name", ["HTTP_READ_TIMEOUT", "MAX_BODY_BYTES", "WEB_CONCURRENCY"])
@pytest.mark.parametrize("value", ["abc", "0", "-1"])
def test_bad_numbers_fail_loudly_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEFAULT_SCENARIO", "slow"),
        ("PAYMENT_FAILURE_RATE", "1.5"),
        ("SCENARIO_SLOW_DB_MS", "60001"),
        ("SCENARIO_LOCK_HOLD_MS", "-5"),
        ("LOG_LEVEL", "LOUD"),
        ("INSECURE_MODE", "maybe"),
        ("CORS_ALLOWED_ORIGINS", "*"),
        ("CORS_ALLOWED_ORIGINS", "http://localhost:5000,https://.*\\.example\\.com"),
        ("SQL_HOST", "db:abc"),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_scenario_variables() -> None:
    settings = Settings.from_env(
        {"DEFAULT_SCENARIO": "slow-db", "SCENARIO_SLOW_DB_MS": "25", "LOG_LEVEL": "debug"}
    )
    assert settings.default_scenario is Scenario.SLOW_DB
    assert settings.scenario_slow_db_ms == 25
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "link"),
    [
        ({}, "/traces/{trace_id}"),
        ({"COLLECTOR_OTLP_HTTP_URL": "otel-collector:4318"}, ""),
        (
            {"TRACE_UI_URL": "http://jaeger:16686/trace/{trace_id}"},
            "http://jaeger:16686/trace/{trace_id}",
        ),
        ({"TRACE_UI_URL": ""}, ""),  # empty: no link at all (as nginx's frontend reads it)
    ],
)
def test_the_page_links_to_the_builtin_viewer_only_without_a_collector(
    env: dict[str, str], link: str
) -> None:
    settings = FrontendSettings.from_env(env)
    assert isinstance(settings, FrontendSettings) and settings.trace_link == link


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


def test_the_line_exporters_are_registered_by_name() -> None:
    (spans,) = entry_points(group="opentelemetry_traces_exporter", name="span_lines")
    assert spans.load() is SpanLineExporter
    (logs,) = entry_points(group="opentelemetry_logs_exporter", name="log_lines")
    assert logs.load() is LogLineExporter


@pytest.mark.parametrize(
    "command", [init_db.main, serve.main, local.main], ids=["init-db", "serve", "make run"]
)
def test_each_command_stops_on_a_bad_variable_with_one_line(
    command: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # make run reads .env from here: there is none
    monkeypatch.setenv("WEB_CONCURRENCY", "zero")
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("configuration error: WEB_CONCURRENCY:")


def test_a_gunicorn_master_reads_its_settings_without_flask_or_the_sdk() -> None:
    """The master imports its settings (and so the scenarios' names) before any fork: Flask and
    the OpenTelemetry SDK load in the workers only, after the distro has instrumented."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, shared.launch.gunicorn_conf; "
            "print(sorted(m for m in sys.modules if m.startswith(('flask', 'opentelemetry.sdk'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
