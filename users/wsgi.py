"""Gunicorn entry point. Telemetry is already set up: ``post_fork`` in ``shared.gunicorn_conf``."""

from users import create_app

app = create_app()
