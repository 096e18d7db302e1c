"""Gunicorn settings shared by the three services (``gunicorn -c python:shared.gunicorn_conf``).

No ``preload_app``: each worker imports the app after the fork, so each has its own
tracer provider, export thread, database pool and HTTP session. Telemetry is flushed by
an ``atexit`` hook that ``shared.telemetry`` installs in every worker.
"""

import os

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
