"""Business spans: the named steps ("create user", "insert order") a newcomer looks for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import Attributes

from shared.errors import as_api_error

_tracer = trace.get_tracer("tracing-demo")


def current_trace_id() -> str | None:
    """The trace of the request being served, as 32 hex digits (``None`` when not traced):
    what a row records to lead back to the story that wrote it."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def mark_span_failed(span: Span, exc: BaseException) -> None:
    """Status ERROR plus an exception event: what a trace UI shows as a failure."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@contextmanager
def business_span(name: str, attributes: Attributes = None) -> Iterator[Span]:
    """A span for one business step.

    A refusal the client caused (a 4xx) is recorded as ``app.rejected`` and leaves the span's
    status alone; a failure (a 5xx, whatever raised it) marks the span failed.
    """
    with _tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except Exception as exc:
            error = as_api_error(exc)
            if error.outcome == "refused":
                span.set_attribute("app.rejected", error.code)
            else:
                mark_span_failed(span, exc)
            raise
