"""Process life: start-up, SIGTERM flushing spans, quick exit with a dead collector, make run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, create_engine, func, select, text

from devkit.otlp_receiver import OtlpReceiver, trace_id_of
from devkit.process import child_pids, free_port
from order.models import SEED_PRODUCTS, ProductRecord
from shared.launch import PROCESSES_BY_NAME
from tests.conftest import run_init_db
from tests.fake_peers import BlackHole, DroppingPeer
from tests.helpers import TIMEOUT
from tests.stack import ROOT, ServiceProcess, base_env

# "Exits within a few seconds": the flush is bounded (3 s). With gunicorn's graceful timeout
# at GRACEFUL_S, a worker whose flush hung would be killed only then: the bound sits well
# between the two, so a busy machine's slow exit is not taken for a hung flush.
GRACEFUL_S = "30"
QUICK_EXIT_S = 15.0


@pytest.mark.both_databases
def test_init_db_is_idempotent(database_url: str, db: Engine) -> None:
    again = run_init_db(database_url)
    assert again.returncode == 0, again.stderr
    assert "0 seed products added" in again.stderr
    with db.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ProductRecord)) == len(
            SEED_PRODUCTS
        )


def test_concurrent_init_db_runs_on_a_fresh_mysql_database_all_succeed(mysql_url: str) -> None:
    """Several pods' init containers may start at once: the named lock keeps them apart."""
    admin = create_engine(mysql_url)
    fresh = f"{admin.url.database}_init_race"  # beside the worker's own database
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{fresh}`"))
        connection.execute(text(f"CREATE DATABASE `{fresh}`"))
    fresh_url = admin.url.set(database=fresh).render_as_string(hide_password=False)
    try:
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "shared.init_db", "--wait", "10"],
                cwd=ROOT,
                env=base_env(DATABASE_URL=fresh_url),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
        assert sum(f"({len(SEED_PRODUCTS)} seed products added)" in out for out in outputs) == 1
        engine = create_engine(fresh_url)
        with engine.connect() as connection:
            count = connection.scalar(select(func.count()).select_from(ProductRecord))
        engine.dispose()
        assert count == len(SEED_PRODUCTS)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{fresh}`"))
        admin.dispose()


def test_sigterm_flushes_spans_still_waiting_in_the_batch(
    database_url: str, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        # Nothing would be exported for a minute: only the shutdown flush can deliver these.
        OTEL_BSP_SCHEDULE_DELAY="60000",
        GRACEFUL_TIMEOUT=GRACEFUL_S,
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    trace_ids = []
    for _ in range(6):
        reply = requests.get(users.url + "/users/1", headers={"Connection": "close"}, timeout=30)
        trace_ids.append(trace_id_of(reply))
    assert not [s for s in receiver.spans() if s.trace_id in trace_ids]

    assert users.stop() < QUICK_EXIT_S
    received = receiver.wait_for(
        lambda spans: {s.trace_id for s in spans} == set(trace_ids),
        lambda span: span.trace_id in trace_ids and span.service == "user-service",
        timeout=5,
    )
    assert len({s.trace_id for s in received}) == 6


def test_sigterm_exits_quickly_when_the_collector_hangs(database_url: str, tmp_path: Path) -> None:
    hole = BlackHole()
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{hole.port}",
        GRACEFUL_TIMEOUT=GRACEFUL_S,
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    try:
        for _ in range(20):
            reply = requests.get(users.url + "/users/1", timeout=TIMEOUT)
            assert reply.status_code in (200, 404)
        hole.wait_for_connections(1)  # an export has started, and hangs on the black hole
        assert users.stop() < QUICK_EXIT_S
    finally:
        hole.close()


def test_a_failing_collector_does_not_flood_the_log(database_url: str, tmp_path: Path) -> None:
    """Many failed exports, a few lines: one per kind of failure and signal, not one per batch."""
    peer = DroppingPeer()  # every export's connection is dropped: each attempt fails, counted
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{peer.port}",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    try:
        failed_exports = 30
        deadline = time.monotonic() + 60
        while peer.connections < failed_exports and time.monotonic() < deadline:
            reply = requests.get(users.url + "/users/1", timeout=TIMEOUT)
            assert reply.status_code in (200, 404)
        peer.wait_for_connections(failed_exports, timeout=1)
    finally:
        users.stop()
        peer.close()
    lines = users.log().splitlines()
    # Said by the project instead of the exporters: a line per signal and kind of failure (the
    # peer's drop, then a timeout once a retry has no time left), never one per batch.
    said = [line for line in lines if "[telemetry]" in line and " export to " in line]
    per_signal = Counter(line.split(" export to ")[0].rsplit(" ", 1)[-1] for line in said)
    assert said and max(per_signal.values()) <= 2, "\n".join(said)
    assert not [line for line in lines if "opentelemetry.exporter" in line], "\n".join(lines)


def test_without_an_endpoint_spans_go_to_a_readable_file(database_url: str, tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.log"
    env = base_env(
        DATABASE_URL=database_url,
        SPANS_FILE=str(spans_file),
        OTEL_TRACES_EXPORTER="span_lines",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    reply = requests.post(
        users.url + "/users", json={"user_name": "File", "account": "f"}, timeout=TIMEOUT
    )
    trace_id = trace_id_of(reply)
    users.stop()
    lines = [line for line in spans_file.read_text().splitlines() if f"trace={trace_id}" in line]
    assert any('SERVER "POST /users"' in line for line in lines), lines
    assert any('"create user"' in line for line in lines), lines
    assert "Failed to export" not in users.log()


@dataclass
class MakeRun:
    """``make run`` started as a person starts it, up and serving."""

    make: subprocess.Popen[str]
    ports: dict[str, int]
    output: list[str]

    def runner_and_services(self) -> tuple[int, dict[str, int]]:
        """The runner's pid (make's child), and each service's gunicorn master by name."""
        (runner,) = child_pids(self.make.pid)
        masters = {}
        for pid in child_pids(runner):
            cmdline = Path(f"/proc/{pid}/cmdline").read_text()
            masters.update({name: pid for name in PROCESSES_BY_NAME if f"{name}.wsgi" in cmdline})
        return runner, masters

    def all_stopped(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(_listening(port) for port in self.ports.values()):
                return True
            time.sleep(0.2)
        return False


def start_make_run(tmp_path: Path, **variables: str) -> MakeRun:
    """``make run`` on free ports and a fresh SQLite file, once it says the services are up;
    ``variables`` on top of the tests' environment."""
    ports = {name: free_port() for name in ("USER_URL", "PAYMENT_URL", "ORDER_URL", "FRONTEND_URL")}
    env = base_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
        SPANS_FILE=str(tmp_path / "spans.log"),
        LOGS_FILE=str(tmp_path / "logs.log"),
        METRICS_FILE=str(tmp_path / "metrics.pb"),
        **{name: f"localhost:{port}" for name, port in ports.items()},
        **variables,
    )
    env["VENV"] = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")))
    # make run's own export delays, not the tests' quick ones.
    del env["OTEL_BSP_SCHEDULE_DELAY"], env["OTEL_BLRP_SCHEDULE_DELAY"]
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    assert make.stdout is not None
    deadline = time.monotonic() + 90
    for line in make.stdout:
        output.append(line)
        if "Press Ctrl-C to stop." in line or time.monotonic() > deadline:
            break
    assert any("Services are up" in line for line in output), "".join(output)
    return MakeRun(make, ports, output)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_make_run_starts_everything_without_a_terminal_and_stops_on_a_signal(
    tmp_path: Path, stop_signal: int
) -> None:
    run = start_make_run(tmp_path)
    make, ports, output = run.make, run.ports, run.output
    try:
        for port in ports.values():
            assert f"http://localhost:{port}" in "".join(output)
        user = requests.post(
            f"http://127.0.0.1:{ports['USER_URL']}/users",
            json={"user_name": "Run", "account": "r"},
            timeout=TIMEOUT,
        )
        assert user.status_code == 201
        order = requests.post(
            f"http://127.0.0.1:{ports['ORDER_URL']}/orders",
            json={"user_id": user.json()["id"], "product_id": 1},
            timeout=TIMEOUT,
        )
        assert order.status_code == 422  # a new user has no money: the whole path works
        # The whole trace (order, users, SQL) is in the spans file soon after the answer; with
        # the SDK's default 5 s batch delay it would not be.
        answered, order_trace = time.monotonic(), trace_id_of(order)
        expected = ('SERVER "POST /orders"', 'SERVER "GET /users/', 'CLIENT "SELECT')
        lines: list[str] = []
        while time.monotonic() < answered + 3:
            spans = (
                (tmp_path / "spans.log").read_text() if (tmp_path / "spans.log").exists() else ""
            )
            lines = [line for line in spans.splitlines() if f"trace={order_trace}" in line]
            if all(any(part in line for line in lines) for part in expected):
                break
            time.sleep(0.1)
        assert all(any(part in line for line in lines) for part in expected), lines
        # Its log record too, in the logs file, with the trace id: the page shows it under it.
        logs_file = tmp_path / "logs.log"
        refusal = f"trace={order_trace} "
        while time.monotonic() < answered + 3 and refusal not in logs_file.read_text():
            time.sleep(0.1)
        assert "refused (insufficient_funds)" in "".join(
            line for line in logs_file.read_text().splitlines() if refusal in line
        )
        page = requests.get(f"http://127.0.0.1:{ports['FRONTEND_URL']}/", timeout=TIMEOUT)
        assert "Place Order" in page.text
        # Through the frontend's proxy, and (no collector) its own trace viewer.
        proxied = requests.get(
            f"http://127.0.0.1:{ports['FRONTEND_URL']}/products", timeout=TIMEOUT
        )
        assert proxied.status_code == 200
        trace_id = trace_id_of(proxied)
        deadline = time.monotonic() + 20
        names: list[str] = []
        while time.monotonic() < deadline:
            viewer = requests.get(
                f"http://127.0.0.1:{ports['FRONTEND_URL']}/api/traces/{trace_id}", timeout=TIMEOUT
            )
            if viewer.status_code == 200:
                names = [span["operationName"] for span in viewer.json()["data"][0]["spans"]]
                if "GET /products" in names:
                    break
            time.sleep(0.3)
        assert "GET /products" in names
    finally:
        if stop_signal == signal.SIGINT:
            # Ctrl-C: the terminal signals the whole foreground process group.
            os.killpg(make.pid, signal.SIGINT)
        else:
            # `kill PID` / a supervisor: only make gets it (and passes SIGTERM on).
            make.send_signal(signal.SIGTERM)
        rest, _ = make.communicate(timeout=30)
    assert "stopped." in rest
    # No endpoint: spans to the file, metrics and logs nowhere; no export is even tried.
    assert "opentelemetry.exporter" not in "".join(output) + rest
    assert run.all_stopped(), "services still running"


def test_a_crashed_service_stops_make_run_with_its_exit_code(tmp_path: Path) -> None:
    run = start_make_run(tmp_path)
    try:
        _, masters = run.runner_and_services()
        os.kill(masters["users"], signal.SIGKILL)
        rest, _ = run.make.communicate(timeout=60)
    finally:
        if run.make.poll() is None:
            os.killpg(run.make.pid, signal.SIGTERM)
    assert "users exited with -9" in rest
    assert "Error 137" in rest  # make reports the runner's status: 128 + SIGKILL
    assert run.all_stopped(), "the other services still run"


def test_killing_make_leaves_no_service_running(tmp_path: Path) -> None:
    run = start_make_run(tmp_path)
    runner, masters = run.runner_and_services()
    assert set(masters) == set(PROCESSES_BY_NAME)
    run.make.kill()  # SIGKILL to make alone: it can pass nothing on
    run.make.wait(10)
    try:
        assert run.all_stopped(), "services outlived make"
        deadline = time.monotonic() + 30
        alive = [runner, *masters.values()]
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]
            time.sleep(0.2)
        assert not alive, "outlived make: " + ", ".join(map(_command_of, alive))
    finally:
        assert run.make.stdout is not None
        run.make.stdout.close()
        with contextlib.suppress(ProcessLookupError):  # nothing is left, if the test passed
            os.killpg(run.make.pid, signal.SIGKILL)


def _command_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def _is_zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


def _listening(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except requests.RequestException:
        return False
    return True


def test_tracing_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    env = base_env(DATABASE_URL=database_url, OTEL_SDK_DISABLED="true")
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    try:
        reply = requests.post(
            users.url + "/users", json={"user_name": "Off", "account": "o"}, timeout=TIMEOUT
        )
        assert reply.status_code == 201
        assert "traceresponse" not in reply.headers
        assert "trace_id=0 span_id=0 created user" in users.log()
    finally:
        users.stop()
