"""Reading the spans file and the logs file back: one trace's lines, as ``SpanLine``/``LogLine``.

``make run`` writes them (``shared.span_lines``, ``shared.log_lines``) when there is no
collector; the page's trace view reads them through ``/api/traces/<trace_id>``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from shared.log_lines import LogLine
from shared.span_lines import SpanLine

_SPAN_LINE = re.compile(
    r"^(?P<start>\S+) (?P<service>\S+) trace=(?P<trace_id>[0-9a-f]{32}) "
    r"span=(?P<span_id>[0-9a-f]{16}) parent=(?P<parent_id>[0-9a-f]{16}|-) "
    r'(?P<kind>[A-Z]+) "(?P<name>.*)" (?P<duration_ms>[0-9.]+)ms (?P<status>[A-Z]+)'
    r"(?: (?P<attributes>.*))?$"
)
_LOG_LINE = re.compile(
    r"^(?P<time>\S+) (?P<service>\S+) trace=(?P<trace_id>[0-9a-f]{32}|-) "
    r"span=(?P<span_id>[0-9a-f]{16}|-) (?P<severity>\S+) (?P<message>\".*\")$"
)


def parse_timestamp(stamp: str) -> int:
    """``shared.span_lines.format_timestamp`` back to nanoseconds."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e6) * 1000


_KEY = re.compile(r" *([^\s=]+)=")
_VALUE = json.JSONDecoder()


def parse_attributes(text: str) -> dict[str, object]:
    """``key=<json> key=<json> ...`` back to a mapping (lists come back as lists)."""
    attributes: dict[str, object] = {}
    position = 0
    while (key := _KEY.match(text, position)) is not None:
        try:
            value, position = _VALUE.raw_decode(text, key.end())
        except json.JSONDecodeError:
            break  # not a line this exporter wrote: keep what was read
        attributes[key[1]] = value
    return attributes


def parse_span_line(line: str) -> SpanLine | None:
    """The span a line describes, or ``None`` for anything else."""
    match = _SPAN_LINE.match(line.rstrip("\n"))
    if match is None:
        return None
    parent = match["parent_id"]
    return SpanLine(
        start_ns=parse_timestamp(match["start"]),
        service=match["service"],
        trace_id=match["trace_id"],
        span_id=match["span_id"],
        parent_id=None if parent == "-" else parent,
        kind=match["kind"],
        name=match["name"],
        duration_ms=float(match["duration_ms"]),
        status=match["status"],
        attributes=parse_attributes(match["attributes"] or ""),
    )


def spans_of_trace(path: str, trace_id: str) -> list[SpanLine]:
    """Every span of ``trace_id`` in the spans file at ``path``, in start order."""
    spans = (parse_span_line(line) for line in lines_of_trace(path, trace_id))
    return sorted((span for span in spans if span is not None), key=lambda span: span.start_ns)


def parse_log_line(line: str) -> LogLine | None:
    """The record a line describes, or ``None`` for anything else."""
    match = _LOG_LINE.match(line.rstrip("\n"))
    if match is None:
        return None
    try:
        message = json.loads(match["message"])
    except json.JSONDecodeError:
        return None
    trace_id, span_id = match["trace_id"], match["span_id"]
    return LogLine(
        time_ns=parse_timestamp(match["time"]),
        service=match["service"],
        trace_id=None if trace_id == "-" else trace_id,
        span_id=None if span_id == "-" else span_id,
        severity=match["severity"],
        message=str(message),
    )


def logs_of_trace(path: str, trace_id: str) -> list[LogLine]:
    """Every record of ``trace_id`` in the logs file at ``path``, in time order."""
    records = (parse_log_line(line) for line in lines_of_trace(path, trace_id))
    return sorted((r for r in records if r is not None), key=lambda record: record.time_ns)


# A trace the page asks for was written moments ago: its lines are near the end of the file,
# which make run never truncates. They are looked for there first; the whole file is read
# only for an older trace (a shared /traces/<id> link).
RECENT_BYTES = 8 * 1024 * 1024


def lines_of_trace(path: str, trace_id: str) -> list[str]:
    """The lines of ``path`` that belong to ``trace_id`` (none if there is no such file)."""
    file = Path(path)
    if not file.exists():
        return []
    needle = f"trace={trace_id} ".encode()
    with file.open("rb") as lines:
        size = lines.seek(0, 2)
        lines.seek(max(0, size - RECENT_BYTES))
        if size > RECENT_BYTES:
            lines.readline()  # the rest of a line cut in two
        found = [line for line in lines if needle in line]
        if not found and size > RECENT_BYTES:
            lines.seek(0)
            found = [line for line in lines if needle in line]
    # A line being written may end mid-character: replaced, not a failed request.
    return [line.decode("utf-8", errors="replace") for line in found]
