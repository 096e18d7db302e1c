"""Gunicorn entry point of the frontend server (not traced itself: it only forwards)."""

from frontend import create_app
from shared.logs import configure_logging

configure_logging("frontend")
app = create_app()
