"""One readable line per span: what local runs without a collector write to ``SPANS_FILE``.

``2026-11-20T23:25:37.042Z user-service trace=<32 hex> span=<16 hex> parent=<16 hex or -> \
SERVER "GET /users/<id:user_id>" 3.2ms UNSET app.user.id=1 http.route="/users/<id:user_id>" ...``

Attribute values are written as JSON, so the frontend server reads them back exactly for the
page's trace view (``/api/traces/<trace_id>``). The exporter is
registered in the ``opentelemetry_traces_exporter`` entry-point group as ``span_lines``, so
``OTEL_TRACES_EXPORTER=span_lines`` selects it like any other exporter.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from shared.settings import Settings


@dataclass(frozen=True)
class SpanLine:
    """The fields of a span a person needs to read a trace."""

    start_ns: int
    service: str
    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str
    name: str
    duration_ms: float
    status: str
    attributes: Mapping[str, object] = field(default_factory=dict)

    def format(self) -> str:
        stamp = format_timestamp(self.start_ns)
        # To the microsecond, as the timestamps: "3.25", "12.5", "400".
        duration = f"{self.duration_ms:.3f}".rstrip("0").rstrip(".")
        attributes = " ".join(
            f"{key}={json.dumps(value, ensure_ascii=False, default=str)}"
            for key, value in self.attributes.items()
        )
        name = self.name.replace("\n", " ").replace('"', "'")
        return (
            f"{stamp} {self.service} trace={self.trace_id} span={self.span_id} "
            f'parent={self.parent_id or "-"} {self.kind} "{name}" {duration}ms '
            f"{self.status} {attributes}"
        ).rstrip()


def format_timestamp(time_ns: int) -> str:
    """Nanoseconds since the epoch as UTC ISO 8601, to the microsecond."""
    moment = datetime.fromtimestamp(time_ns / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


class LineFile:
    """Appends whole lines to a file (``-``: stdout), from any thread."""

    def __init__(self, path: str) -> None:
        self._out: IO[str] | None = None
        if path != "-":
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._out = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, lines: Iterable[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        with self._lock:
            out = self._out or sys.stdout
            out.write(text)
            out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


class SpanLineExporter(SpanExporter):
    """Appends one readable line per span to ``SPANS_FILE`` (``-``: stdout)."""

    def __init__(self, path: str | None = None) -> None:
        self._file = LineFile(path if path is not None else Settings.from_env().spans_file)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._file.write(span_line(span).format() for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


def span_line(span: ReadableSpan) -> SpanLine:
    """The readable-line view of an SDK span; a failure's message and exception come first."""
    context = span.get_span_context()
    assert context is not None
    start, end = span.start_time or 0, span.end_time or 0
    failure: dict[str, object] = {}
    if span.status.description:
        failure["status.message"] = span.status.description
    for event in span.events:
        if event.name == "exception" and event.attributes:
            for key in ("exception.type", "exception.message"):
                if key in event.attributes:
                    failure[key] = event.attributes[key]
    return SpanLine(
        start_ns=start,
        service=str(span.resource.attributes.get("service.name", "?")),
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
        kind=span.kind.name,
        name=span.name,
        duration_ms=(end - start) / 1e6,
        status=span.status.status_code.name,
        attributes={**failure, **dict(span.attributes or {})},
    )
