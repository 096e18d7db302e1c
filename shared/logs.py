"""Log lines that carry the trace and span ids, so a log line leads to its trace.

The logging instrumentation adds ``otelTraceID``, ``otelSpanID`` and ``otelServiceName`` to every
record (``OTEL_PYTHON_LOG_CORRELATION=true``) and exports each record over OTLP with its trace
context; this module only makes sure the terminal shows them, with or without telemetry.
"""

from __future__ import annotations

import logging
import os

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from shared.settings import Settings

LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(otelServiceName)s [%(name)s] "
    "trace_id=%(otelTraceID)s span_id=%(otelSpanID)s %(message)s"
)


class RateLimitFilter(logging.Filter):
    """Lets one record per message template of ``prefix`` loggers through every ``interval_s``.

    An unreachable collector makes the exporter log on every retry; one line now and then
    says the same without flooding the terminal.
    """

    def __init__(self, prefix: str, interval_s: float = 60.0) -> None:
        super().__init__()
        self.prefix = prefix
        self.interval_s = interval_s
        self._last_seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        last = self._last_seen.get(str(record.msg))
        if last is not None and record.created - last < self.interval_s:
            return False
        self._last_seen[str(record.msg)] = record.created
        return True


def not_while_exporting(record: logging.LogRecord) -> bool:
    """False for records logged inside an export (the exporters suppress instrumentation there).

    Exporting those would feed the log export its own HTTP client's lines, forever.
    """
    return is_instrumentation_enabled()


def configure_logging(service: str | None = None) -> None:
    """Terminal lines with trace ids on the root logger, at ``LOG_LEVEL``.

    Keeps the stream handler the logging instrumentation set up (or adds one when telemetry
    is off), with ``OTEL_PYTHON_LOG_FORMAT`` (default: ``LOG_FORMAT``) and a fallback for
    records that carry no trace ids; the OTLP log handler gets no records from exports.
    """
    service = service or os.environ.get("OTEL_SERVICE_NAME") or "-"
    formatter = logging.Formatter(
        os.environ.get("OTEL_PYTHON_LOG_FORMAT") or LOG_FORMAT,
        defaults={"otelServiceName": service, "otelTraceID": "0", "otelSpanID": "0"},
    )
    root = logging.getLogger()
    streams: list[logging.Handler] = [h for h in root.handlers if type(h) is logging.StreamHandler]
    if not streams:
        streams = [logging.StreamHandler()]
        root.addHandler(streams[0])
    for handler in root.handlers:
        if handler in streams:
            handler.setFormatter(formatter)
            handler.addFilter(RateLimitFilter("opentelemetry"))
        else:
            handler.addFilter(not_while_exporting)
    level = os.environ.get("OTEL_PYTHON_LOG_LEVEL") or Settings.from_env().log_level
    root.setLevel(level.upper())
