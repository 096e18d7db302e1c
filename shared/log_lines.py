"""One readable line per log record: what local runs without a collector write to ``LOGS_FILE``.

``2026-11-20T23:25:37.042Z user-service trace=<32 hex or -> span=<16 hex or -> INFO \
"credited 10000 cents to user 1"``

The frontend server reads a trace's lines back to show its logs under the page's trace view.
The exporter is registered in the ``opentelemetry_logs_exporter`` entry-point group as
``log_lines``, so ``OTEL_LOGS_EXPORTER=log_lines`` selects it like any other exporter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from shared.settings import Settings
from shared.span_lines import LineFile, format_timestamp


@dataclass(frozen=True)
class LogLine:
    """The fields of a log record a person reads beside its trace."""

    time_ns: int
    service: str
    trace_id: str | None
    span_id: str | None
    severity: str
    message: str

    def format(self) -> str:
        return (
            f"{format_timestamp(self.time_ns)} {self.service} trace={self.trace_id or '-'} "
            f"span={self.span_id or '-'} {self.severity} "
            f"{json.dumps(self.message, ensure_ascii=False)}"
        )


def log_line(data: ReadableLogRecord) -> LogLine:
    """The readable-line view of an SDK log record."""
    record = data.log_record
    trace_id, span_id = record.trace_id or 0, record.span_id or 0
    return LogLine(
        time_ns=record.timestamp or record.observed_timestamp or time.time_ns(),
        service=str(data.resource.attributes.get("service.name", "?")),
        trace_id=f"{trace_id:032x}" if trace_id else None,
        span_id=f"{span_id:016x}" if span_id else None,
        severity=record.severity_text or "INFO",
        message=str(record.body),
    )


class LogLineExporter(LogRecordExporter):
    """Appends one readable line per log record to ``LOGS_FILE`` (``-``: stdout)."""

    def __init__(self, path: str | None = None) -> None:
        self._file = LineFile(path if path is not None else Settings.from_env().logs_file)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self._file.write(log_line(data).format() for data in batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is written and flushed at once

    def shutdown(self) -> None:
        self._file.close()
