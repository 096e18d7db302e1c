"""Gunicorn settings shared by the three services (``gunicorn -c python:shared.gunicorn_conf``).

No ``preload_app``: each worker sets up OpenTelemetry in ``post_fork`` and only then imports
the app, so each has its own providers, export threads and gRPC channels (they do not survive
a fork), database pool and HTTP session; ``worker_exit`` flushes its telemetry in bounded time.
"""

import os
import signal
from typing import Any

bind = os.environ.get("BIND", "0.0.0.0:" + os.environ.get("PORT", "8080"))
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Keep inter-service connections open between requests (clients pool them).
keepalive = 30
timeout = 30
# SIGTERM: finish in-flight requests, flush spans, exit.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "10"))
# Each request is logged by the app itself, with its trace id.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Three services on one machine would fight over gunicorn's one default control socket path.
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
