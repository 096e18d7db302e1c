"""Gunicorn entry point of the frontend server (not traced itself: it only forwards)."""

from frontend import create_app

app = create_app()
