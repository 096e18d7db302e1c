"""The smoke check (``python -m tests.smoke``) against ``make run``, started as a person starts it.

It passes against the whole demo, with and without ``--jaeger-url`` (``make run`` has no
Jaeger, but its frontend server answers ``/api/traces/<id>`` in Jaeger's shape from the spans
file, so that origin stands in for Jaeger's query service). It fails, with a line saying
which check and why, when a service is unreachable behind the page or a trace never shows up.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devkit.process import free_port
from tests.stack import ROOT, ServiceProcess, base_env
from tests.test_lifecycle import MakeRun, start_make_run


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tests.smoke ARGS`` as a person runs it, from the checkout."""
    return subprocess.run(
        [sys.executable, "-m", "tests.smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def lines(result: subprocess.CompletedProcess[str], status: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(status)]


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    run = start_make_run(tmp_path_factory.mktemp("make-run"))
    try:
        yield run
    finally:
        run.make.send_signal(signal.SIGTERM)
        run.make.communicate(timeout=60)
        assert run.all_stopped(), "make run left services running"


@pytest.fixture
def page_url(make_run: MakeRun) -> str:
    return f"http://127.0.0.1:{make_run.ports['FRONTEND_URL']}"


class NeverFoundJaeger:
    """A Jaeger query service that has no trace at all: 404 for every trace, as Jaeger says it."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                body = json.dumps(
                    {"data": None, "errors": [{"code": 404, "msg": "trace not found"}]}
                ).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test reads the smoke check's output, not the server's."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_smoke_check_passes_against_make_run(page_url: str) -> None:
    result = smoke("--base-url", page_url)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = "\n".join(lines(result, "PASS"))
    for check in ("page /", "config.js", "app.js", "styles.css", "create user", "transfer"):
        assert check in passed, result.stdout
    for check in ("balance", "products", "order", "credits", "orders"):
        assert check in passed, result.stdout
    assert not lines(result, "FAIL") and not lines(result, "SKIP"), result.stdout
    assert "smoke check all passed" in result.stdout.splitlines()[-1]


def test_with_a_jaeger_url_it_waits_for_both_traces_with_their_services(page_url: str) -> None:
    # make run's frontend server answers Jaeger's query API from the spans file.
    result = smoke("--base-url", page_url, "--jaeger-url", page_url)
    assert result.returncode == 0, result.stdout + result.stderr
    traces = [line for line in lines(result, "PASS") if "trace in Jaeger" in line]
    assert len(traces) == 2, result.stdout
    transfer, order = traces
    assert "payment-service" in transfer and "user-service" in transfer
    assert "order-service" in order and "user-service" in order


def test_a_trace_that_never_reaches_jaeger_fails_its_check_after_the_wait(page_url: str) -> None:
    jaeger = NeverFoundJaeger()
    try:
        result = smoke("--base-url", page_url, "--jaeger-url", jaeger.url, "--trace-wait", "2")
    finally:
        jaeger.close()
    assert result.returncode == 1, result.stdout + result.stderr
    (failed,) = lines(result, "FAIL")
    assert failed.startswith("FAIL  transfer's trace in Jaeger:"), failed
    assert "not in Jaeger after 2 s" in failed and "404" in failed
    (skipped,) = lines(result, "SKIP")
    assert "order's trace in Jaeger" in skipped
    assert "smoke check FAILED" in result.stdout.splitlines()[-1]


def test_a_service_down_behind_the_page_fails_the_flow_with_a_clear_line(tmp_path: Path) -> None:
    """The page is up, the services behind it are not: its files pass, the first click fails."""
    nowhere = {name: f"http://127.0.0.1:{free_port()}" for name in ("USER_URL", "PAYMENT_URL")}
    env = base_env(ORDER_URL=f"http://127.0.0.1:{free_port()}", **nowhere)
    frontend = ServiceProcess("frontend", env, tmp_path / "frontend.log").start().wait_ready()
    try:
        result = smoke("--base-url", frontend.url)
    finally:
        frontend.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    assert any("config.js" in line for line in lines(result, "PASS")), result.stdout
    (failed,) = lines(result, "FAIL")
    assert failed.startswith("FAIL  create user POST /users: POST /users answered 502, not 201")
    assert "upstream_unavailable" in failed
    assert len(lines(result, "SKIP")) == 6, result.stdout
    assert "smoke check FAILED" in result.stdout.splitlines()[-1]
