"""Look at the demo's processes and ports from outside: what the tests and the bench measure
and wait on (starting and stopping a process is ``shared.launch.process``'s, ``make run``'s too).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

Reading = TypeVar("Reading")


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
