"""Gunicorn settings of the frontend server: the services' settings, without telemetry.

It only serves the page and forwards requests (nginx does the same in containers), so it
adds no spans of its own between the browser's and the services'.
"""

from typing import Any

from shared.gunicorn_conf import *  # noqa: F403


def post_fork(server: Any, worker: Any) -> None:  # type: ignore[no-redef]
    """Plain logging; no OpenTelemetry in this process."""
