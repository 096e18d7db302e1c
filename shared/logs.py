"""Log lines that carry the trace and span ids, so a log line leads to its trace."""

from __future__ import annotations

import logging
import os

from opentelemetry import trace

LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(service)s [%(name)s] "
    "trace_id=%(trace_id)s span_id=%(span_id)s %(message)s"
)


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id`` and ``service`` to every record (zeros outside a span)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = f"{context.trace_id:032x}"
        record.span_id = f"{context.span_id:016x}"
        record.service = self.service
        return True


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


def configure_logging(service: str) -> None:
    """Root logging to stderr with trace ids; ``LOG_LEVEL`` sets the level (default INFO)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(TraceContextFilter(os.environ.get("OTEL_SERVICE_NAME") or service))
    handler.addFilter(RateLimitFilter("opentelemetry"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
