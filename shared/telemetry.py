"""OpenTelemetry the standard way: the distro sets up traces, metrics and logs from ``OTEL_*``.

Each gunicorn worker calls :func:`start_telemetry` after the fork (the ``post_fork`` hook in
``shared.launch.gunicorn_conf``): it runs the auto-instrumentation initialisation that
``opentelemetry-instrument`` runs for a single process. The distro's configurator then builds
the providers, exporters and resource from the standard variables, and every installed
instrumentation (flask, requests, sqlalchemy, logging) is loaded through its entry point.

This module only adds what the project itself contributes:

- the Go sample's ``INSECURE_MODE`` and ``SIGNOZ_ACCESS_TOKEN``, mapped to their standard
  equivalents before the SDK reads the environment;
- a few defaults of its own (each one a standard variable, so any of them can be overridden);
- the scenario span processor and the ``traceresponse`` header;
- the HTTP client spans' resend count and replay flag (``shared.users_client``'s hooks);
- terminal log lines with trace ids, with or without telemetry;
- where each signal goes, said once, and export failures explained in one line per signal
  (``shared.export_problems``) instead of the exporters' line per batch and retry.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, MutableMapping

from opentelemetry import _logs, metrics, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.auto_instrumentation import initialize
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    set_global_response_propagator,
)
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from shared.export_problems import (
    ExportProblems,
    destinations,
    remove_duplicate_filters,
    say_where_signals_go,
)
from shared.scenarios import SPAN_ATTRIBUTE, scenario_in
from shared.settings import Settings

# Terminal log lines carry the trace and span ids (the logging instrumentation adds them to
# every record), so a log line leads to its trace.
LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(otelServiceName)s [%(name)s] "
    "trace_id=%(otelTraceID)s span_id=%(otelSpanID)s %(message)s"
)

# At exit, the last batches get this long (all three signals at once), even if the collector hangs.
SHUTDOWN_TIMEOUT_S = 3.0

# The project's defaults: standard variables, applied only where the environment sets nothing.
PROJECT_DEFAULTS = {
    # The stable HTTP conventions: http.server.request.duration, http.response.status_code...
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
    # Probes run every few seconds and tell no story: no spans, no metrics.
    "OTEL_PYTHON_FLASK_EXCLUDED_URLS": "/healthz,/readyz",
    # Log lines on the terminal carry trace and span ids (the logging instrumentation adds them).
    "OTEL_PYTHON_LOG_CORRELATION": "true",
    "OTEL_PYTHON_LOG_FORMAT": LOG_FORMAT,
}


def apply_go_sample_variables(env: MutableMapping[str, str]) -> Settings:
    """Map the Go sample's switches to the standard variables the exporters read.

    ``INSECURE_MODE=true`` is ``OTEL_EXPORTER_OTLP_INSECURE=true`` (plaintext gRPC), and
    ``SIGNOZ_ACCESS_TOKEN`` becomes the ``signoz-access-token`` header of every OTLP export.
    Returns the settings read on the way.
    """
    settings = Settings.from_env(env)
    if settings.insecure_mode is not None and "OTEL_EXPORTER_OTLP_INSECURE" not in env:
        env["OTEL_EXPORTER_OTLP_INSECURE"] = str(settings.insecure_mode).lower()
    token = settings.signoz_access_token
    if token:
        headers = [env.get("OTEL_EXPORTER_OTLP_HEADERS", ""), f"signoz-access-token={token}"]
        env["OTEL_EXPORTER_OTLP_HEADERS"] = ",".join(h for h in headers if h)
    return settings


def start_telemetry(env: MutableMapping[str, str] | None = None) -> None:
    """Set up OpenTelemetry in this process (a gunicorn worker, after the fork)."""
    env = os.environ if env is None else env
    settings = apply_go_sample_variables(env)
    for name, value in PROJECT_DEFAULTS.items():
        env.setdefault(name, value)
    env.setdefault("OTEL_PYTHON_LOG_LEVEL", settings.log_level.lower())
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":  # the SDK's own reading
        # The SDK would make every span a no-op anyway; skip the instrumentation too.
        configure_logging(env, settings)
        return
    initialize(swallow_exceptions=False)
    configure_logging(env, settings)
    say_where_signals_go(env)
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.add_span_processor(ScenarioSpanProcessor())
    set_global_response_propagator(TraceResponsePropagator())  # type: ignore[no-untyped-call]
    _drop_connect_spans()
    _hook_requests_spans()


def _hook_requests_spans() -> None:
    """The HTTP client spans say which resend they are and whether their answer was a replay.

    The auto-instrumentation loads the requests instrumentation without hooks, and an
    instrumentor takes its hooks when it instruments: instrument it again, with them.
    """
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    from shared.users_client import record_replay, record_resend

    instrumentor = RequestsInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
        instrumentor.instrument(request_hook=record_resend, response_hook=record_replay)


def _drop_connect_spans() -> None:
    """No ``connect`` span per session: it is a pool checkout, not a new connection.

    The SQLAlchemy instrumentation wraps ``Engine.connect`` in a span on every checkout; it
    misleads more than it teaches and costs a span per request. SQL statement spans stay.
    """
    from sqlalchemy import Engine

    unwrap(Engine, "connect")


def shutdown_telemetry(timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """Flush and stop the three providers together, waiting at most ``timeout_s``.

    Each provider would flush at exit on its own, one after the other, each waiting up to the
    export timeout for a collector that does not answer; a worker must exit well within
    gunicorn's graceful timeout.
    """
    providers = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    )
    flushers = [
        threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
        for provider in providers
        if hasattr(provider, "shutdown")
    ]
    for flusher in flushers:
        flusher.start()
    deadline = time.monotonic() + timeout_s
    for flusher in flushers:
        flusher.join(max(0.0, deadline - time.monotonic()))


def not_while_exporting(record: logging.LogRecord) -> bool:
    """False for records logged inside an export (the exporters suppress instrumentation there).

    Exporting those would feed the log export its own HTTP client's lines, forever.
    """
    return is_instrumentation_enabled()


def configure_logging(env: Mapping[str, str], settings: Settings) -> None:
    """Terminal lines with trace ids on the root logger, at ``LOG_LEVEL``.

    Keeps the stream handler the logging instrumentation set up (or adds one when telemetry
    is off), with ``OTEL_PYTHON_LOG_FORMAT`` (default: ``LOG_FORMAT``) and a fallback for
    records that carry no trace ids, and OpenTelemetry's own lines quieted
    (``shared.export_problems.ExportProblems``); the OTLP log handler gets no records from
    exports.
    """
    formatter = logging.Formatter(
        env.get("OTEL_PYTHON_LOG_FORMAT") or LOG_FORMAT,
        defaults={
            "otelServiceName": env.get("OTEL_SERVICE_NAME") or "-",
            "otelTraceID": "0",
            "otelSpanID": "0",
        },
    )
    export_problems = ExportProblems(destinations(env), settings.export_problem_interval_seconds)
    root = logging.getLogger()
    streams: list[logging.Handler] = [h for h in root.handlers if type(h) is logging.StreamHandler]
    if not streams:
        streams = [logging.StreamHandler()]
        root.addHandler(streams[0])
    for handler in root.handlers:
        if handler in streams:
            handler.setFormatter(formatter)
            handler.addFilter(export_problems)
        else:
            handler.addFilter(not_while_exporting)
    root.setLevel((env.get("OTEL_PYTHON_LOG_LEVEL") or settings.log_level).upper())
    remove_duplicate_filters()


class ScenarioSpanProcessor(SpanProcessor):
    """Puts ``app.scenario`` on every span started under a scenario, so traces can be filtered.

    Not the contrib ``BaggageSpanProcessor``: it copies raw baggage entries under their own key
    (``demo.scenario``), unknown names included, and cannot label the configured default scenario
    of a request that carries no baggage. This one labels exactly the scenario that applies.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        scenario = scenario_in(parent_context)
        if scenario is not None:
            span.set_attribute(SPAN_ATTRIBUTE, scenario.value)

    def on_end(self, span: ReadableSpan) -> None:
        pass
