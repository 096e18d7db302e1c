"""Gunicorn entry point; telemetry is already set up (``shared.launch.gunicorn_conf``)."""

from users import create_app

app = create_app()
