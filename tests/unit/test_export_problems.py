"""Where each signal goes, and export failures said once per signal with what to check."""

from __future__ import annotations

import io
import logging

import pytest

from shared.export_problems import (
    EXPORTER_LOGGERS,
    SIGNALS,
    Destination,
    ExportProblems,
    describe,
    destinations,
    kind_of_failure,
    remove_duplicate_filters,
)


def test_the_sdk_defaults_are_otlp_grpc_to_localhost() -> None:
    assert destinations({})["traces"] == Destination("otlp", "grpc", "http://localhost:4317")


def test_one_http_endpoint_gets_each_signals_path() -> None:
    found = destinations(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://other:4318/v1/logs",
            "OTEL_METRICS_EXPORTER": "none",
        }
    )
    assert describe(found) == (
        "traces -> OTLP/HTTP http://collector:4318/v1/traces; metrics -> none; "
        "logs -> OTLP/HTTP http://other:4318/v1/logs"
    )


def test_the_local_files_and_named_exporters() -> None:
    found = destinations(
        {
            "OTEL_TRACES_EXPORTER": "span_lines",
            "OTEL_LOGS_EXPORTER": "log_lines",
            "OTEL_METRICS_EXPORTER": "otlp_proto_http",
        }
    )
    assert str(found["traces"]) == "span_lines"
    assert str(found["metrics"]) == "OTLP/HTTP http://localhost:4318/v1/metrics"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            "StatusCode.UNAVAILABLE: failed to connect to all addresses; last error: UNAVAILABLE: "
            "ipv4:127.0.0.1:4317: Failed to connect to remote host: Connection refused",
            "refused",
        ),
        (
            "HTTPConnectionPool(host='localhost', port=4318): Max retries exceeded "
            '(Caused by NewConnectionError("Failed to establish a new connection: '
            '[Errno 111] Connection refused"))',
            "refused",
        ),
        (
            "StatusCode.UNAVAILABLE: DNS resolution failed for nowhere.invalid:4317",
            "name not found",
        ),
        (
            "Failed to resolve 'nowhere.invalid' ([Errno -2] Name or service not known)",
            "name not found",
        ),
        ("StatusCode.UNAVAILABLE: Ssl handshake failed: SSL_ERROR_SSL", "TLS"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", "TLS"),
        ("StatusCode.DEADLINE_EXCEEDED: Deadline Exceeded", "timeout"),
        ("HTTPConnectionPool(host='x', port=1): Read timed out. (read timeout=1)", "timeout"),
        ("('Connection aborted.', RemoteDisconnected('Remote end closed connection'))", "dropped"),
        (
            "StatusCode.UNAVAILABLE: errors resolving host.docker.internal:4317: [field:hostname "
            "lookup error:address lookup failed for host.docker.internal:4317: Domain name not "
            "found]",
            "name not found",
        ),
        (
            "StatusCode.UNAVAILABLE: failed to connect to all addresses; last error: UNAVAILABLE: "
            "ipv4:127.0.0.1:4318: Failed parsing HTTP/2 (Expected SETTINGS frame as the first "
            "frame, got frame type 79)",
            "wrong protocol",
        ),
        ("('Connection aborted.', BadStatusLine('\\x00\\x00\\x18\\x04'))", "wrong protocol"),
        ("something new", "error"),
    ],
)
def test_each_kind_of_failure_is_named(error: str, kind: str) -> None:
    assert kind_of_failure(error)[0] == kind


def grpc_failure(
    problems: ExportProblems, details: str, code: str = "StatusCode.UNAVAILABLE"
) -> bool:
    """An OTLP/gRPC exporter's line for one failed export, through the filter."""
    record = logging.LogRecord(
        EXPORTER_LOGGERS[0],
        logging.ERROR,
        __file__,
        1,
        "Failed to export %s to %s, error code: %s, error details: %s",
        ("traces", "localhost:4317", code, details),
        None,
    )
    return problems.filter(record)


def telemetry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "telemetry"]


def test_failures_are_said_once_then_reminded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telemetry")
    found = destinations({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
    problems = ExportProblems(found, interval_s=3600)
    for _ in range(20):
        assert grpc_failure(problems, "Connection refused") is False  # the library's line: gone
    (line,) = telemetry_lines(caplog)
    assert line.startswith("traces export to OTLP/gRPC http://collector:4317 failed: refused.")
    assert "4317" in line and "Check:" in line

    reminding = ExportProblems(found, interval_s=0)
    grpc_failure(reminding, "Connection refused")
    grpc_failure(reminding, "Connection refused")
    assert "still failing: refused (1 more failures" in telemetry_lines(caplog)[-1]


def test_a_new_kind_of_failure_is_said_at_once_and_each_kind_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="telemetry")
    problems = ExportProblems(destinations({}), interval_s=3600)
    # Kinds that alternate (a dropped connection, then a retry out of time, and again): each is
    # said once.
    for error in ("Connection refused", "Deadline Exceeded") * 3:
        grpc_failure(problems, error)
    assert [line.split(" failed: ")[1].split(".")[0] for line in telemetry_lines(caplog)] == [
        "refused",
        "timeout",
    ]


def test_an_http_4xx_is_a_rejection_naming_the_headers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telemetry")
    problems = ExportProblems(destinations({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}), 60)
    record = logging.LogRecord(
        EXPORTER_LOGGERS[1],
        logging.ERROR,
        __file__,
        1,
        "Failed to export %s batch code: %s, reason: %s",
        ("spans", 401, "Unauthorized"),
        None,
    )
    assert problems.filter(record) is False
    (line,) = telemetry_lines(caplog)
    assert "traces export to OTLP/HTTP http://localhost:4318/v1/traces failed" in line
    assert "rejected (HTTP 401)" in line and "OTEL_EXPORTER_OTLP_HEADERS" in line


@pytest.mark.parametrize("code", ["UNAUTHENTICATED", "PERMISSION_DENIED"])
def test_a_grpc_refusal_is_a_rejection_naming_its_code_and_the_headers(
    code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telemetry")
    problems = ExportProblems(destinations({}), 60)
    details = "provided authorization does not match expected scheme or token"
    assert grpc_failure(problems, details, f"StatusCode.{code}") is False
    (line,) = telemetry_lines(caplog)
    assert f"failed: rejected ({code}). Check: the collector refused the export" in line
    assert "OTEL_EXPORTER_OTLP_HEADERS" in line and "signoz-ingestion-key" in line


def test_a_failure_of_each_signal_is_said_though_their_exporters_share_one_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The three OTLP/gRPC exporters log through one logger, in one message; the SDK's own
    filter on that logger would let only the first signal's failure through."""
    import opentelemetry.exporter.otlp.proto.grpc.exporter  # noqa: F401  (the SDK's filter)

    caplog.set_level(logging.INFO, logger="telemetry")
    remove_duplicate_filters()
    exporter_log = logging.getLogger(EXPORTER_LOGGERS[0])
    terminal = logging.StreamHandler(io.StringIO())
    terminal.addFilter(ExportProblems(destinations({}), interval_s=3600))
    exporter_log.addHandler(terminal)
    try:
        for signal in SIGNALS:
            exporter_log.error(
                "Failed to export %s to %s, error code: %s, error details: %s",
                signal,
                "localhost:4317",
                "StatusCode.UNAVAILABLE",
                "Connection refused",
            )
    finally:
        exporter_log.removeHandler(terminal)
    assert [line.split(" export to ")[0] for line in telemetry_lines(caplog)] == list(SIGNALS)


def test_other_lines_of_the_exporters_pass() -> None:
    problems = ExportProblems(destinations({}), 60)
    record = logging.LogRecord(
        EXPORTER_LOGGERS[0], logging.WARNING, __file__, 1, "something else", (), None
    )
    assert problems.filter(record) is True


def test_other_opentelemetry_lines_pass_once_per_interval() -> None:
    problems = ExportProblems(destinations({}), interval_s=3600)

    def passes(logger: str, message: str) -> bool:
        record = logging.LogRecord(logger, logging.WARNING, __file__, 1, message, ("span",), None)
        return problems.filter(record)

    queue = "opentelemetry.sdk._shared_internal"
    assert [passes(queue, "Queue full, dropping %s.") for _ in range(3)] == [True, False, False]
    assert passes(queue, "Exception while exporting %s.")  # another message: said too
    assert all(passes("users.routes", "credited %s") for _ in range(3))  # not OpenTelemetry's


def test_each_record_is_decided_once_whatever_the_number_of_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The filter sits on every terminal handler: a second handler sees what the first let
    through, and a failure is said once, not once per handler."""
    caplog.set_level(logging.INFO, logger="telemetry")
    problems = ExportProblems(destinations({}), interval_s=3600)
    other = logging.LogRecord(
        "opentelemetry.sdk._shared_internal", logging.WARNING, __file__, 1, "Queue full", (), None
    )
    assert [problems.filter(other) for _handler in range(2)] == [True, True]
    failure = logging.LogRecord(
        EXPORTER_LOGGERS[0],
        logging.ERROR,
        __file__,
        1,
        "Failed to export %s to %s, error code: %s, error details: %s",
        ("traces", "localhost:4317", "StatusCode.UNAVAILABLE", "Connection refused"),
        None,
    )
    assert [problems.filter(failure) for _handler in range(2)] == [False, False]
    (line,) = telemetry_lines(caplog)
    assert "failed: refused." in line
