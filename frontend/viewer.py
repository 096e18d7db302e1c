"""A small trace viewer for runs without a collector: ``/traces/<trace_id>`` reads the spans file.

With SigNoz or Jaeger configured, the page links to their UI instead (``TRACE_UI_URL``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request, url_for

from shared.settings import Settings
from shared.span_lines import SpanLine, read_trace

bp = Blueprint("viewer", __name__)
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
# The page looks again after this long, until QUIET_LOOKS looks in a row find no new span (or
# it gave up waiting): each process exports on its own timer (200 ms in make run), and the
# browser's last fetch span ends a few hundred milliseconds after its response.
RECHECK_S = 0.6
QUIET_LOOKS = 2
MAX_RECHECKS = 20


@dataclass(frozen=True)
class Row:
    """One span in the waterfall: its depth in the tree and its bar, in % of the trace."""

    span: SpanLine
    depth: int
    offset_pct: float
    width_pct: float


def waterfall(spans: list[SpanLine]) -> list[Row]:
    """Spans depth-first (children under their parent, in start order), with bar geometry."""
    if not spans:
        return []
    known = {span.span_id for span in spans}
    children: dict[str | None, list[SpanLine]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in known else None
        children.setdefault(parent, []).append(span)
    start = min(span.start_ns for span in spans)
    end = max(span.start_ns + span.duration_ms * 1e6 for span in spans)
    total = max(end - start, 1.0)
    rows: list[Row] = []

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_ns):
            offset = (span.start_ns - start) / total * 100
            width = max(span.duration_ms * 1e6 / total * 100, 0.3)
            rows.append(Row(span, depth, offset, min(width, 100 - offset)))
            visit(span.span_id, depth + 1)

    visit(None, 0)
    return rows


@bp.get("/traces/<trace_id>")
def show_trace(trace_id: str) -> str:
    """The spans of one trace as an indented waterfall."""
    if not TRACE_ID.match(trace_id):
        abort(404)
    settings: Settings = current_app.extensions["settings"]
    path = Path(settings.spans_file)
    spans: list[SpanLine] = []
    if path.exists():
        with path.open(encoding="utf-8") as lines:
            spans = read_trace(lines, trace_id)
    rows = waterfall(spans)
    total_ms = max((r.span.duration_ms for r in rows if r.depth == 0), default=0.0)
    services = sorted({row.span.service for row in rows})
    # Still growing (or nothing yet): look again shortly, so nobody reads half a trace.
    seen = request.args.get("seen", type=int)
    quiet = request.args.get("quiet", default=0, type=int) + 1 if len(spans) == seen else 0
    rechecks = request.args.get("rechecks", default=0, type=int)
    growing = (not spans or quiet < QUIET_LOOKS) and rechecks < MAX_RECHECKS
    recheck_url = (
        url_for(
            "viewer.show_trace",
            trace_id=trace_id,
            seen=len(spans),
            quiet=quiet,
            rechecks=rechecks + 1,
        )
        if growing
        else None
    )
    return render_template(
        "trace.html",
        trace_id=trace_id,
        rows=rows,
        total_ms=total_ms,
        services=services,
        recheck_url=recheck_url,
        recheck_s=RECHECK_S,
    )
