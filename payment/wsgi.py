"""Gunicorn entry point. Telemetry started before this import: gunicorn's ``post_fork`` hook
(``shared.launch.gunicorn_conf``) called ``shared.telemetry.start_telemetry``, which runs
``initialize()`` of ``opentelemetry.instrumentation.auto_instrumentation``: the OpenTelemetry
distro then configures the SDK from ``OTEL_*`` and loads every instrumentation."""

from payment import create_app

app = create_app()
