"""``make soak``'s smoke run, for real: the demo on MySQL under Locust's shoppers for two short
"minutes" (20 s each).

Only the report's shape is checked (a record per minute with every figure, the four criteria,
the plot), that money is where the ledger says, and that nothing is left running: never a
timing or a timing criterion, which two minutes on a shared machine cannot judge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url

from devkit.database import ledger_mismatches
from tests.stack import ROOT
from tests.test_bench import bench_database_url

SERVICES = ("users", "payment", "order", "frontend")
FLOWS = {"create user", "browse", "transfer", "order", "balance"}
CRITERIA = ("memory", "latency", "spans", "ledger")


def soak_database_url() -> str:
    """The bench's test database (``<name>_bench``, skipped without MySQL), ``_soak`` added."""
    url = make_url(bench_database_url())
    return url.set(database=f"{url.database}_soak").render_as_string(hide_password=False)


def running_in(directory: Path) -> list[int]:
    """The processes whose working directory is ``directory``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")) == directory:
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return found


@pytest.mark.timeout(600)
def test_smoke_soak_reports_every_minute_and_keeps_the_ledger(tmp_path: Path) -> None:
    database_url = soak_database_url()
    out, logs = tmp_path / "out", tmp_path / "logs"
    # Two records of 20 s each: the shape of a run, not its timings.
    command = [sys.executable, "-m", "bench.soak", "--minutes", "2", "--warmup-minutes", "1"]
    command += ["--minute-seconds", "20"]
    command += ["--out", str(out), "--log-dir", str(logs), "--database-url", database_url]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=560)
    output = f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    # 1 is a criterion missed (two minutes cannot judge the timings); anything else, a crash.
    assert result.returncode in (0, 1), output

    (written,) = out.glob("soak-*.json")
    report = json.loads(written.read_text())
    assert result.returncode == (0 if report["passed"] else 1), output
    assert [minute["minute"] for minute in report["minutes"]] == [1, 2]
    kinds = {f"{name} {role}" for name in SERVICES for role in ("master", "worker")}
    pids = set()
    for minute in [report["start"], *report["minutes"]]:
        assert set(minute["rss_kib"]) == kinds
        for kind, sizes in minute["rss_kib"].items():
            assert len(sizes) == (2 if kind.endswith("worker") else 1), minute["rss_kib"]
            assert all(kib > 0 for kib in sizes.values()), minute["rss_kib"]
            pids |= {int(pid) for pid in sizes}
        assert set(minute["rows"]) >= {"users", "credits", "orders"}
    for minute in report["minutes"]:
        assert set(minute["latency_ms"]) == FLOWS
        for figures in minute["latency_ms"].values():
            assert set(figures) == {"requests", "p50", "p95", "p99"}
            assert figures["requests"] > 0
        for part in ("requests", "statuses", "error_rate", "unexplained_failures"):
            assert set(minute[part]) == {"plain", "scenario"}, minute[part]
        assert minute["spans"]["expected"] > 0 and minute["spans"]["received"] > 0
    assert 0 < report["totals"]["scenario_share"] <= 0.10
    assert report["spans"]["per_request"]
    assert set(report["criteria"]) == set(CRITERIA)
    # Latency drift is judged on windows of steady minutes; one steady minute is both windows.
    latency = report["criteria"]["latency"]
    assert (latency["first_steady_minute"], latency["window_minutes"]) == (2, 1)
    assert set(latency["flows"]) == FLOWS
    for flow, drift in latency["flows"].items():
        assert drift["first_window"]["minutes"] == drift["last_window"]["minutes"] == [2]
        p95 = report["minutes"][1]["latency_ms"][flow]["p95"]
        assert drift["first_window"]["median_p95"] == drift["last_window"]["median_p95"] == p95

    # The invariant, in the report and in the database itself.
    assert report["criteria"]["ledger"]["passed"], report["criteria"]["ledger"]
    engine = create_engine(database_url)
    try:
        assert ledger_mismatches(engine) == []
    finally:
        engine.dispose()

    verdicts = [line for line in result.stdout.splitlines() if line[:4] in ("PASS", "FAIL")]
    assert len(verdicts) == len(CRITERIA), output
    assert written.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing left behind: no gunicorn master or worker it measured, no Locust (run in logs/).
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert running_in(logs) == []
