"""Gunicorn settings of the frontend server: the services' settings, without telemetry.

It only serves the page and forwards requests (nginx does the same in containers), so it
adds no spans of its own between the browser's and the services'.
"""

import signal
from typing import Any

from shared.gunicorn_conf import *  # noqa: F403


def post_fork(server: Any, worker: Any) -> None:  # type: ignore[no-redef]
    """No OpenTelemetry here; a SIGTERM while booting still stops the worker."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def worker_exit(server: Any, worker: Any) -> None:  # type: ignore[no-redef]
    """Nothing to flush."""
