"""Log lines that carry the trace and span ids, so a log line leads to its trace.

The logging instrumentation adds ``otelTraceID``, ``otelSpanID`` and ``otelServiceName`` to every
record (``OTEL_PYTHON_LOG_CORRELATION=true``) and exports each record over OTLP with its trace
context; this module only makes sure stdout shows them, with or without telemetry.
"""

from __future__ import annotations

import logging
import os

LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(otelServiceName)s [%(name)s] "
    "trace_id=%(otelTraceID)s span_id=%(otelSpanID)s %(message)s"
)


class RateLimitFilter(logging.Filter):
    """Lets one record per message template of ``prefix`` loggers through every ``interval_s``.

    An unreachable collector makes the exporter log on every retry; one line now and then
    says the same without flooding the terminal (or the log export).
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


def configure_logging(service: str | None = None) -> None:
    """Stdout lines with trace ids on the root logger; ``LOG_LEVEL`` sets the level.

    Keeps the stream handler the logging instrumentation set up (or adds one when telemetry
    is off) and gives it a format that works whether or not records carry trace ids.
    """
    service = service or os.environ.get("OTEL_SERVICE_NAME") or "-"
    formatter = logging.Formatter(
        LOG_FORMAT,
        defaults={"otelServiceName": service, "otelTraceID": "0", "otelSpanID": "0"},
    )
    root = logging.getLogger()
    streams: list[logging.Handler] = [h for h in root.handlers if type(h) is logging.StreamHandler]
    if not streams:
        streams = [logging.StreamHandler()]
        root.addHandler(streams[0])
    for handler in streams:
        handler.setFormatter(formatter)
    rate_limit = RateLimitFilter("opentelemetry")
    for handler in root.handlers:
        handler.addFilter(rate_limit)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
