"""The built-in trace viewer looks again until the trace stops growing, then says it is whole."""

from __future__ import annotations

import re
import time
from pathlib import Path

from flask.testing import FlaskClient

from frontend import create_app
from shared.settings import Settings
from shared.span_lines import SpanLine

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _viewer(spans_file: Path) -> FlaskClient:
    return create_app(Settings.from_env({"SPANS_FILE": str(spans_file)})).test_client()


def _write(spans_file: Path, *span_ids: str) -> None:
    lines = [
        SpanLine(
            start_ns=time.time_ns(),
            service="order-service",
            trace_id=TRACE,
            span_id=span_id,
            parent_id=None,
            kind="SERVER",
            name="POST /orders",
            duration_ms=12.0,
            status="UNSET",
        ).format()
        for span_id in span_ids
    ]
    with spans_file.open("a") as out:
        out.write("".join(line + "\n" for line in lines))


def _recheck(html: str) -> str | None:
    match = re.search(r'http-equiv="refresh" content="[0-9.]+; url=([^"]+)"', html)
    return match[1].replace("&amp;", "&") if match else None


def test_the_viewer_looks_again_until_no_new_span_arrives(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.log"
    viewer = _viewer(spans_file)

    empty = viewer.get(f"/traces/{TRACE}").text
    assert "No spans of this trace yet" in empty
    url = _recheck(empty)
    assert url is not None

    _write(spans_file, "00000000000000a1")
    first = viewer.get(url).text
    url = _recheck(first)
    assert url is not None and "still arriving" in first  # it grew since the last look

    _write(spans_file, "00000000000000a2")
    second = viewer.get(url).text
    url = _recheck(second)
    assert url is not None and "2 spans" in second

    quiet = viewer.get(url).text  # nothing new since the last look: one more, to be sure
    url = _recheck(quiet)
    assert url is not None and "still arriving" in quiet
    settled = viewer.get(url).text  # two quiet looks in a row
    assert _recheck(settled) is None
    assert "Complete" in settled and "2 spans" in settled


def test_the_viewer_gives_up_waiting_for_a_trace_that_never_comes(tmp_path: Path) -> None:
    viewer = _viewer(tmp_path / "spans.log")
    page = viewer.get(f"/traces/{TRACE}?seen=0&rechecks=20").text
    assert _recheck(page) is None
    assert "No spans of this trace arrived" in page


def test_only_trace_ids_are_viewed(tmp_path: Path) -> None:
    assert _viewer(tmp_path / "spans.log").get("/traces/not-a-trace").status_code == 404
