"""`make run`'s environment (``shared.launch.local.load_environment``): where each signal goes."""

from __future__ import annotations

from pathlib import Path

from shared.launch.local import load_environment


def test_with_nothing_configured_metrics_go_to_the_frontend_server(tmp_path: Path) -> None:
    env = load_environment(tmp_path / "no.env", {})
    assert env["OTEL_TRACES_EXPORTER"] == "span_lines"
    assert env["OTEL_LOGS_EXPORTER"] == "log_lines"
    assert env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"].endswith(":5000/otlp-http/v1/metrics")


def test_a_collector_for_traces_alone_gets_no_metrics_it_did_not_ask_for(tmp_path: Path) -> None:
    """The frontend server forwards /otlp-http to that collector: metrics sent to the frontend
    would reach it unasked."""
    given = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://localhost:4318/v1/traces"}
    env = load_environment(tmp_path / "no.env", given)
    assert env["OTEL_METRICS_EXPORTER"] == "none"
    assert "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" not in env


def test_a_collector_for_everything_gets_everything(tmp_path: Path) -> None:
    env = load_environment(tmp_path / "no.env", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"})
    assert "OTEL_METRICS_EXPORTER" not in env and "OTEL_TRACES_EXPORTER" not in env
