"""Gunicorn entry point: telemetry first (in each worker, after the fork), then the app."""

from payment import SERVICE_NAME, create_app
from shared.logs import configure_logging
from shared.telemetry import configure_tracing

configure_logging(SERVICE_NAME)
configure_tracing(SERVICE_NAME)
app = create_app()
