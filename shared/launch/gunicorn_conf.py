"""Gunicorn settings of every process (``gunicorn -c python:shared.launch.gunicorn_conf``).

No ``preload_app``: each worker sets up OpenTelemetry in ``post_fork`` and only then imports
the app, so each has its own providers, export threads and gRPC channels (they do not survive
a fork), database pool and HTTP session; ``worker_exit`` flushes its telemetry in bounded time.
"""

import os
import signal
from typing import Any

from shared.settings import Settings

_settings = Settings.from_env()

bind = _settings.bind or f"0.0.0.0:{_settings.port or 8080}"
workers = _settings.web_concurrency
worker_class = "gthread"
threads = _settings.gunicorn_threads
# Keep inter-service connections open between requests (clients pool them).
keepalive = 30
timeout = 30
# SIGTERM: finish in-flight requests, flush spans, exit.
graceful_timeout = _settings.graceful_timeout
# Each request is logged by the app itself, with its trace id.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
# Several processes on one machine would fight over gunicorn's one default control socket path.
control_socket_disable = True


def post_fork(server: Any, worker: Any) -> None:
    """OpenTelemetry's auto-instrumentation, once per worker, before the app is imported."""
    # Until the worker installs its own handlers, a SIGTERM would land in the master's handler
    # (copied by the fork) and be lost: the worker would then outlive the graceful timeout.
    # Booting, it has nothing in flight, so the default action (exit at once) is right.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from shared.telemetry import start_telemetry

    start_telemetry()


def worker_exit(server: Any, worker: Any) -> None:
    """The last spans, logs and metrics, flushed in bounded time (in the worker only)."""
    if worker.pid != os.getpid():
        return  # gunicorn also calls this hook in the master, for a worker it lost
    from shared.telemetry import shutdown_telemetry

    shutdown_telemetry()
