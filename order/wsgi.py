"""Gunicorn entry point. Telemetry is already set up: ``post_fork`` in ``shared.gunicorn_conf``."""

from order import create_app

app = create_app()
