"""Start the demo's processes, wait for them and stop them.

``make run`` (``shared.launch.local``), the tests and the bench all do it with these functions:
start one under gunicorn, wait until it is ready, stop several at once (SIGTERM, then SIGKILL
for stragglers). What only the tests and the bench need (a free port, a master's workers, their
memory, waiting for a reading to settle) is ``devkit.process``'s.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

from shared.launch import GUNICORN_CONFIG, ProcessSpec, gunicorn_command

ROOT = Path(__file__).resolve().parents[2]


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
