"""``python -m bench.completion``, once, for real: real Chromium clicks the page's three main
clicks on `make run`'s setup and through the real Collector and Jaeger. Only the report's shape
is checked, and that no trace got a span after its view called it complete (counted after the
services and the Collector were stopped, each sending on what it held): never a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_backends
from tests.stack import ROOT

CLICKS = {"create user", "transfer", "order"}


def test_the_completion_bench_measures_both_sources_and_no_trace_grows_after_complete(
    tmp_path: Path,
) -> None:
    require_backends()
    out = tmp_path / "completion.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.completion", "--rounds", "1", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())
    assert set(results) == {"local", "jaeger"}
    for source, result in results.items():
        assert set(result["median_ms_per_click"]) == CLICKS, source
        (measured,) = result["rounds"]
        for click, seen in measured.items():
            assert seen["spans_when_complete"] >= 3, (source, click)  # the page's and a service's
        assert result["grew_after_complete"] == [], source
        assert f"{source}: complete " in run.stdout
