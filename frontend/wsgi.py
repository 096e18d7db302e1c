"""Gunicorn entry point of the frontend server, not traced itself: it only forwards.

Gunicorn's ``post_fork`` hook (``shared.launch.gunicorn_conf``) calls
``shared.telemetry.start_telemetry`` here too, but this process runs with
``OTEL_SDK_DISABLED=true`` (``shared.launch.PROCESSES``): it sets up the log lines only and skips
``initialize()``, so the OpenTelemetry distro never configures the SDK here."""

from frontend import create_app

app = create_app()
