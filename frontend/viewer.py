"""``/traces/<trace_id>``: one trace on a page of its own, to share or to read at full width.

The page is static (``static/trace.html``); the same trace view as under each click on the
demo page draws it from ``/api/traces/<trace_id>``. nginx serves the same file.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_from_directory

from frontend import STATIC_DIR
from frontend.trace_api import TRACE_ID

bp = Blueprint("viewer", __name__)


@bp.get("/traces/<trace_id>")
def show_trace(trace_id: str) -> Response:
    if not TRACE_ID.fullmatch(trace_id):
        abort(404)
    return send_from_directory(STATIC_DIR, "trace.html", max_age=0)
