"""The readable log lines: written from real log records with their trace ids, read back."""

from __future__ import annotations

import logging
from pathlib import Path

from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from frontend.trace_files import logs_of_trace, parse_log_line
from shared.log_lines import LogLine, LogLineExporter

TRACE = "0af7651916cd43dd8448eb211c80319c"


def test_a_record_logged_in_a_span_is_a_line_with_its_trace_and_span(tmp_path: Path) -> None:
    path = tmp_path / "logs.log"
    resource = Resource.create({"service.name": "order-service"})
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(LogLineExporter(str(path))))
    logger = logging.getLogger("test.log_lines")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoggingHandler(logger_provider=logs)
    logger.addHandler(handler)
    tracer = TracerProvider(resource=resource).get_tracer("test")
    try:
        with tracer.start_as_current_span("place order") as span:
            logger.warning('order %s refused: "%s"\nnext line', 7, "insufficient funds")
        logger.info("outside any trace")
    finally:
        logger.removeHandler(handler)
        logs.shutdown()

    context = span.get_span_context()
    trace_id = f"{context.trace_id:032x}"
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    [record] = logs_of_trace(str(path), trace_id)
    assert (record.service, record.severity, record.span_id) == (
        "order-service",
        "WARN",
        f"{context.span_id:016x}",
    )
    assert record.message == 'order 7 refused: "insufficient funds"\nnext line'
    outside = parse_log_line(lines[1])
    assert outside is not None
    assert (outside.trace_id, outside.span_id, outside.message) == (None, None, "outside any trace")


def test_a_line_survives_format_and_parse_and_others_are_ignored(tmp_path: Path) -> None:
    line = LogLine(
        1_700_000_000_123_456_000, "user-service", TRACE, "00f067aa0ba902b7", "INFO", "ok"
    )
    assert parse_log_line(line.format()) == line
    assert parse_log_line("[2026-11-22 05:26:47 +0000] [7159] [INFO] Booting worker") is None
    other = line.format().replace(TRACE, "f" * 32)
    path = tmp_path / "logs.log"
    path.write_text("\n".join(["noise", other, line.format()]) + "\n")
    assert logs_of_trace(str(path), TRACE) == [line]
