"""Gunicorn entry point; telemetry is already set up (``shared.launch.gunicorn_conf``)."""

from payment import create_app

app = create_app()
