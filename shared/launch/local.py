"""``make run``: initialise the database, start the three services under gunicorn, print URLs.

Settings come from ``.env``, and variables already in the environment win, so
``SQL_HOST=127.0.0.1:3306 OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 make run``
targets MySQL and a collector without editing a file. Ctrl-C, SIGINT or SIGTERM stops
every service gracefully (their last spans are flushed). No terminal is needed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from dotenv import dotenv_values

from shared.services import SERVICES, SERVICES_BY_NAME, gunicorn_command
from shared.settings import database_url_from_env, describe_database
from shared.span_lines import DEFAULT_SPANS_FILE

STOP_TIMEOUT_S = 15
READY_TIMEOUT_S = 60


class Stop(Exception):
    """Raised by the signal handler to leave the main loop."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def _die_with_parent() -> None:
    """In a child, before exec: get SIGTERM if this runner dies, even by SIGKILL (Linux)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def load_environment(env_file: Path) -> dict[str, str]:
    """``.env`` values overridden by the real environment.

    With no OTLP endpoint anywhere, spans go to the spans file (the ``span_lines`` exporter; the
    frontend server writes the page's spans there too), trace links open the frontend's own
    viewer, and logs stay on the terminal, each line with its trace id.
    """
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    env = {**from_file, **os.environ}
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return env
    if not env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        env.setdefault("COLLECTOR_OTLP_HTTP_URL", "")
        env.setdefault("OTEL_TRACES_EXPORTER", "span_lines")
    for kind in ("METRICS", "LOGS"):
        if not env.get(f"OTEL_EXPORTER_OTLP_{kind}_ENDPOINT"):
            env.setdefault(f"OTEL_{kind}_EXPORTER", "none")
    return env


def wait_until_ready(port: int, process: subprocess.Popen[bytes], deadline: float) -> bool:
    """Poll ``/readyz`` until it answers 200, the process dies, or the deadline passes."""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every service (graceful: in-flight requests finish), then SIGKILL stragglers."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    """Run the stack until a signal arrives or a service dies."""
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    env = load_environment(Path(".env"))
    print(f"database: {describe_database(database_url_from_env(env))}", flush=True)
    if subprocess.run([sys.executable, "-m", "shared.init_db"], env=env).returncode != 0:
        print("init-db failed; is the database reachable?", file=sys.stderr)
        return 1

    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for spec in SERVICES:
            port = spec.port(env)
            service_env = {**env, "OTEL_SERVICE_NAME": spec.otel_service_name}
            # Own session: a Ctrl-C reaches only this runner, which then stops each
            # service gracefully instead of gunicorn's immediate SIGINT shutdown.
            processes[spec.name] = subprocess.Popen(
                gunicorn_command(spec, port),
                env=service_env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        for spec in SERVICES:
            if not wait_until_ready(spec.port(env), processes[spec.name], deadline):
                print(f"{spec.name} did not become ready", file=sys.stderr)
                return 1
        _print_banner(env)
        parent = os.getppid()
        while True:
            if os.getppid() != parent:
                # `make` was killed (it does not pass signals on): stop with it.
                raise Stop("parent exited")
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except Stop as stop:
        print(f"\n{stop}: stopping services...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(processes)
        print("stopped.", flush=True)


def _print_banner(env: dict[str, str]) -> None:
    lines = ["", "Services are up:"]
    for spec in SERVICES:
        lines.append(f"  {spec.otel_service_name:<16} http://localhost:{spec.port(env)}")
    frontend = SERVICES_BY_NAME["frontend"].port(env)
    lines.append(f"Open http://localhost:{frontend} and click through: each click is one trace.")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint:
        lines.append(f"Traces go over OTLP to {endpoint}.")
    else:
        spans_file = env.get("SPANS_FILE", DEFAULT_SPANS_FILE)
        lines.append(f"No OTLP endpoint set: spans are written to {spans_file} (tail -f it).")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
