"""Gunicorn entry point. Telemetry is already set up: ``post_fork`` in ``shared.gunicorn_conf``."""

from payment import create_app

app = create_app()
