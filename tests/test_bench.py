"""The benchmark's smoke run, for real: three gunicorn stacks on MySQL, driven by ``hey``.

Only the shape of the report is checked (a table row per flow, a column per mode, the three
modes in the JSON) and that telemetry flowed where it should: never a timing or a ratio, which
a smoke run cannot measure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parent.parent
MODES = ("untraced", "project", "distro")
FLOWS = ("GET /users/<id>", "transfer", "POST /orders")
# Not `make bench`'s databases (tracing_demo_bench_<mode>): a bench may be running beside.
LOCAL_MYSQL = "mysql+pymysql://root@127.0.0.1:3306/tracing_demo_test?charset=utf8mb4"


def bench_database_url() -> str:
    """TEST_DATABASE_URL's server (else the local MariaDB), database ``<name>_bench``.

    The bench creates ``<name>_bench_<mode>`` for each mode and resets it.
    """
    url = make_url(os.environ.get("TEST_DATABASE_URL") or LOCAL_MYSQL)
    server = create_engine(url.set(database=""))
    try:
        with server.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        message = f"the benchmark needs MySQL at {url.render_as_string()}: {exc.orig}"
        if os.environ.get("CI") or os.environ.get("TEST_DATABASE_URL"):
            pytest.fail(message)
        pytest.skip(message)
    finally:
        server.dispose()
    return url.set(database=f"{url.database}_bench").render_as_string(hide_password=False)


@pytest.mark.timeout(900)
def test_smoke_bench_reports_every_flow_in_three_modes(tmp_path: Path) -> None:
    if not shutil.which("hey"):
        pytest.fail("hey is missing: install Debian's hey (apt-get install hey) to run the bench")
    database_url = bench_database_url()
    out, logs = tmp_path / "out", tmp_path / "logs"
    command = [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)]
    command += ["--log-dir", str(logs), "--database-url", database_url]
    # Short export delays in every mode: the smoke run waits for exports, and measures nothing.
    env = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=880)
    output = result.stdout
    assert result.returncode == 0, f"{output[-4000:]}\n{result.stderr[-6000:]}"

    lines = output.splitlines()
    # The throughput table: a header with a column per mode, then a row per flow.
    header = next((i for i, line in enumerate(lines) if line.split()[:4] == ["flow", *MODES]), None)
    assert header is not None, output
    rows = lines[header + 2 : header + 2 + len(FLOWS)]
    for flow, row in zip(FLOWS, rows, strict=True):
        assert row.startswith(flow), output
        assert len(row[len(flow) :].split()) >= len(MODES) + 3, row  # 3 modes, 3 ratios, target
    assert "distro instrumentations (opentelemetry-bootstrap):" in output

    (written,) = out.glob("*.json")
    results = json.loads(written.read_text())
    assert set(results["modes"]) == set(MODES)
    assert results["modes"]["distro"]["instrumentations"]
    assert [row["flow"] for row in results["flows"]] == list(FLOWS)
    for row in results["flows"]:
        assert set(row["rps"]) == set(MODES)
        assert set(row["latency_ms"]) == set(MODES)
        # Telemetry went where it should: nothing from the untraced stack, spans from the others.
        assert row["spans_received"]["untraced"] == 0
        assert row["spans_per_request"]["project"] > 0
        assert row["spans_per_request"]["distro"] > 0
    assert results["targets"]
    assert set(results["ready_s"]) == set(MODES)
