"""``make run`` (``python -m shared.launch.local``): the database, then every process, then URLs.

Settings come from ``.env``, and variables already in the environment win, so
``SQL_HOST=127.0.0.1:3306 OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 make run``
targets MySQL and a collector without editing a file. Ctrl-C, SIGINT or SIGTERM stops
every service gracefully (their last spans are flushed); so does the death of ``make``, even
by SIGKILL. A service that exits stops the run, with its exit code. No terminal is needed.

Not a Procfile runner such as honcho: it stops everything on Ctrl-C and passes a crashed
process's exit code on, but if it or its parent is killed its processes live on.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from dotenv import dotenv_values

from shared.launch import PROCESSES, PROCESSES_BY_NAME
from shared.launch.process import NotReady, start_service, stop_processes, wait_until_ready
from shared.settings import Settings, describe_database, settings_or_exit

STOP_TIMEOUT_S = 15
READY_TIMEOUT_S = 60


class Stop(Exception):
    """Raised by the signal handler to leave the main loop."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def _die_with_parent() -> None:
    """Get SIGTERM when the parent dies, even by SIGKILL (Linux): called by this runner for
    itself (`make` passes no signal on), and in each child before exec."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def load_environment(env_file: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``.env`` values overridden by the real environment (``environ``).

    With no OTLP endpoint anywhere, spans go to the spans file (the ``span_lines`` exporter; the
    frontend server writes the page's spans there too) and log records to the logs file
    (``log_lines``), where the page's trace view reads them; logs also stay on the terminal,
    each line with its trace id. Metrics go over OTLP/HTTP to the frontend server, which keeps
    the latest point of every series and serves them at ``/api/metrics`` as the Collector's
    prometheus exporter would (``frontend.metrics_api``).
    """
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    env = {**from_file, **environ}
    # A person reads each click's trace right after the click: export spans within a fifth of a
    # second (the SDK's default batch delay is 5 s, which shows half-finished traces).
    env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")
    env.setdefault("OTEL_BLRP_SCHEDULE_DELAY", "200")
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        # The collector beside it takes the browser's spans over OTLP/HTTP: one trace.
        env.setdefault("COLLECTOR_OTLP_HTTP_URL", "http://localhost:4318")
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return env
    if not env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        env.setdefault("OTEL_TRACES_EXPORTER", "span_lines")
    if not env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"):
        env.setdefault("OTEL_LOGS_EXPORTER", "log_lines")
    if env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        return env
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        # The frontend server forwards /otlp-http to that collector, which was not asked to
        # take metrics: none, rather than exports nobody takes.
        env.setdefault("OTEL_METRICS_EXPORTER", "none")
        return env
    env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = frontend_metrics_endpoint(env)
    env["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] = "http/protobuf"
    return env


def frontend_metrics_endpoint(env: Mapping[str, str]) -> str:
    """Where the frontend server of ``env`` takes the services' metrics (OTLP/HTTP)."""
    port = PROCESSES_BY_NAME["frontend"].port(settings_or_exit(env))
    return f"http://127.0.0.1:{port}/otlp-http/v1/metrics"


def main() -> int:
    """Run the stack until a signal arrives or a service dies."""
    env = load_environment(Path(".env"))
    settings = settings_or_exit(env)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # it died before we asked
        return 1
    print(f"database: {describe_database(settings.database_url)}", flush=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        if subprocess.run([sys.executable, "-m", "shared.init_db"], env=env).returncode != 0:
            print("init-db failed; is the database reachable?", file=sys.stderr)
            return 1
        for spec in PROCESSES:
            # Own session: a Ctrl-C reaches only this runner, which then stops each
            # service gracefully instead of gunicorn's immediate SIGINT shutdown.
            processes[spec.name] = start_service(
                spec,
                spec.port(settings),
                env,
                host="0.0.0.0",
                new_session=True,
                preexec_fn=_die_with_parent,
            )
        for spec in PROCESSES:
            try:
                wait_until_ready(
                    f"http://127.0.0.1:{spec.port(settings)}", processes[spec.name], READY_TIMEOUT_S
                )
            except NotReady as exc:
                print(f"{spec.name} did not become ready: {exc}", file=sys.stderr)
                return 1
        _print_banner(env, settings)
        # Until a service exits (not reaped here: its Popen reads the status); a signal raises
        # Stop first.
        exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        assert exited is not None  # None only with WNOHANG
        name = next(name for name, p in processes.items() if p.pid == exited.si_pid)
        code = processes[name].wait()
        print(f"{name} exited with {code}", file=sys.stderr)
        if code < 0:  # killed by a signal: the shell's 128 + N
            code = 128 - code
        return code or 1  # even a clean exit ends the run early
    except Stop as stop:
        print(f"\n{stop}: stopping services...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_processes(processes.values(), STOP_TIMEOUT_S)
        print("stopped.", flush=True)


def _print_banner(env: dict[str, str], settings: Settings) -> None:
    lines = ["", "Services are up:"]
    for spec in PROCESSES:
        lines.append(f"  {spec.otel_service_name:<16} http://localhost:{spec.port(settings)}")
    frontend = PROCESSES_BY_NAME["frontend"].port(settings)
    lines.append(f"Open http://localhost:{frontend} and click through: each click is one trace.")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint:
        lines.append(f"Traces go over OTLP to {endpoint}.")
    else:
        lines.append(
            f"No OTLP endpoint set: spans are written to {settings.spans_file} and logs to "
            f"{settings.logs_file}; each click's trace and logs show under it on the page."
        )
        lines.append(
            f"Metrics, with exemplars (OpenMetrics): http://localhost:{frontend}/api/metrics"
        )
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
