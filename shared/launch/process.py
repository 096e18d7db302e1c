"""Start the demo's processes, wait for them, look at them and stop them.

``make run`` (``shared.launch.local``), the tests and the bench all do it with these functions:
start one under gunicorn and wait until it is ready, find a free port, list a gunicorn master's
workers, stop several at once (SIGTERM, then SIGKILL for stragglers), and wait until a changing
reading (spans received, say) stops changing.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TypeVar

from shared.launch import GUNICORN_CONFIG, ProcessSpec, gunicorn_command

ROOT = Path(__file__).resolve().parents[2]
Reading = TypeVar("Reading")


class NotReady(RuntimeError):
    """The process exited, or did not answer its readiness path in time."""


def start_service(
    spec: ProcessSpec,
    port: int,
    env: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    output: IO[bytes] | None = None,
    python: str = sys.executable,
    config: str = GUNICORN_CONFIG,
    new_session: bool = False,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """``spec`` under gunicorn on ``host:port``, with ``env`` plus its own variables.

    ``output``: where stdout and stderr go (default: inherited). ``new_session``: a Ctrl-C in
    the terminal reaches only the caller, which then stops the process gracefully.
    """
    return subprocess.Popen(
        gunicorn_command(spec, port, host, python=python, config=config),
        cwd=ROOT,
        env={**env, "OTEL_SERVICE_NAME": spec.otel_service_name, **spec.environment},
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        stdin=subprocess.DEVNULL,
        start_new_session=new_session,
        preexec_fn=preexec_fn,
    )


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], timeout_s: float, path: str = "/readyz"
) -> float:
    """Poll ``url + path`` until it answers 200; return how long that took, in seconds.

    Raises :class:`NotReady` if the process exits first or ``timeout_s`` passes.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        if process.poll() is not None:
            raise NotReady(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + path, timeout=2) as reply:
                if reply.status == 200:
                    return time.monotonic() - started
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() >= deadline:
            raise NotReady(f"{url}{path} did not answer 200 within {timeout_s:.0f}s")
        time.sleep(0.1)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (a gunicorn master's: its workers), from ``/proc``."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def resident_kib(pid: int) -> int:
    """The resident memory of ``pid``, in KiB (0 once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match[1]) if match else 0


def stop_processes(processes: Iterable[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """SIGTERM them all (graceful: in-flight requests finish), then SIGKILL what is left after
    ``timeout_s``."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_quiet(
    read: Callable[[], Reading],
    quiet_s: float,
    *,
    min_wait_s: float = 0.0,
    timeout_s: float = 60.0,
    ready: Callable[[Reading], bool] = lambda _: True,
) -> Reading:
    """Poll ``read()`` until it has not changed for ``quiet_s`` (and ``ready`` holds for it, and
    ``min_wait_s`` has passed); the reading then, or the last one after ``timeout_s``."""
    started = time.monotonic()
    last, since = read(), started
    while time.monotonic() < started + timeout_s:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif (
            ready(now)
            and time.monotonic() - since >= quiet_s
            and time.monotonic() - started >= min_wait_s
        ):
            break
    return last
