"""OpenTelemetry set-up, done once per process (per gunicorn worker, after the fork).

Telemetry is configuration: the standard ``OTEL_*`` variables choose the exporter, endpoint,
headers, sampler, batch sizes and resource. With no OTLP endpoint configured, spans go to a
local file (``SPANS_FILE``) a person can read, so a bare ``make run`` shows traces without a
collector and the terminal never fills with export errors.
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    set_global_response_propagator,
)
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from shared.scenarios import ScenarioSpanProcessor
from shared.settings import ConfigError, parse_bool
from shared.span_lines import SpanLine

DEFAULT_SPANS_FILE = "var/spans.log"
# Shutdown waits at most this long for the last spans, even if the collector is unreachable.
SHUTDOWN_TIMEOUT_S = 3.0

_configured = threading.Lock()
_provider: TracerProvider | None = None


def tracing_disabled(env: Mapping[str, str]) -> bool:
    """``OTEL_SDK_DISABLED=true`` turns every span into a no-op (used to measure tracing's cost)."""
    return parse_bool(env.get("OTEL_SDK_DISABLED", "false"))


def tracing_configured() -> bool:
    """Whether this process exports spans (so instrumentation is worth installing)."""
    return _provider is not None


def configure_tracing(
    default_service_name: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """Install the global tracer provider, exporter and propagators; idempotent per process."""
    global _provider
    env = os.environ if environ is None else environ
    with _configured:
        if _provider is not None or tracing_disabled(env):
            return _provider
        service_name = env.get("OTEL_SERVICE_NAME") or default_service_name
        resource = Resource.create(
            {
                "service.name": service_name,
                "service.namespace": "tracing-demo",
                "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
                "process.pid": os.getpid(),
            }
        )
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(ScenarioSpanProcessor())
        exporter = build_span_exporter(env)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        set_global_response_propagator(TraceResponsePropagator())  # type: ignore[no-untyped-call]
        RequestsInstrumentor().instrument(tracer_provider=provider)
        atexit.register(shutdown_tracing)
        _provider = provider
        return provider


def shutdown_tracing(timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """Flush pending spans, but never hold the process up for longer than ``timeout_s``."""
    provider = _provider
    if provider is None:
        return
    flusher = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
    flusher.start()
    flusher.join(timeout_s)


def build_span_exporter(env: Mapping[str, str]) -> SpanExporter | None:
    """The exporter ``OTEL_TRACES_EXPORTER`` names; by default OTLP if an endpoint is set."""
    has_endpoint = bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    name = (env.get("OTEL_TRACES_EXPORTER") or ("otlp" if has_endpoint else "console")).strip()
    if name == "none":
        return None
    if name == "console":
        path = env.get("SPANS_FILE", DEFAULT_SPANS_FILE)
        if path in ("", "-"):
            return SpanLineExporter(None)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return SpanLineExporter(open(path, "a", encoding="utf-8", buffering=1))  # noqa: SIM115
    if name != "otlp":
        raise ConfigError(f"OTEL_TRACES_EXPORTER={name!r} is not supported (otlp, console, none)")
    return build_otlp_exporter(env)


def build_otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    """OTLP over gRPC (default) or HTTP/protobuf, honouring the Go sample's variables too.

    ``INSECURE_MODE=true`` means a plaintext connection, as in the Go sample, and
    ``SIGNOZ_ACCESS_TOKEN`` adds the ``signoz-access-token`` header SigNoz Cloud expects.
    Everything else (endpoint, headers, timeout, compression, certificates) the exporters
    read from the standard ``OTEL_EXPORTER_OTLP_*`` variables themselves.
    """
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    insecure = parse_bool(env["INSECURE_MODE"]) if env.get("INSECURE_MODE") else None
    headers: dict[str, str] | None = None
    if env.get("SIGNOZ_ACCESS_TOKEN"):
        raw_headers = env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get(
            "OTEL_EXPORTER_OTLP_HEADERS", ""
        )
        headers = dict(parse_env_headers(raw_headers, liberal=True))
        headers["signoz-access-token"] = env["SIGNOZ_ACCESS_TOKEN"]
    if protocol == "grpc":
        return GrpcSpanExporter(insecure=insecure, headers=headers)
    if protocol == "http/protobuf":
        return HttpSpanExporter(endpoint=_http_traces_endpoint(env, insecure), headers=headers)
    raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported")


def _http_traces_endpoint(env: Mapping[str, str], insecure: bool | None) -> str | None:
    """Give a bare ``host:port`` endpoint a scheme; otherwise let the exporter resolve it."""
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        endpoint, suffix = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], ""
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint, suffix = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/"), "/v1/traces"
    else:
        return None
    if "://" in endpoint:
        return None
    scheme = "https" if insecure is False else "http"
    return f"{scheme}://{endpoint}{suffix}"


class SpanLineExporter(SpanExporter):
    """Writes one readable line per span, for local runs without a collector."""

    def __init__(self, out: IO[str] | None) -> None:
        self._out = out
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span_line(span).format() + "\n" for span in spans)
        with self._lock:
            out = self._out or sys.stdout
            out.write(lines)
            out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        if self._out is not None:
            self._out.close()


def span_line(span: ReadableSpan) -> SpanLine:
    """The readable-line view of an SDK span."""
    context = span.get_span_context()
    assert context is not None
    start, end = span.start_time or 0, span.end_time or 0
    return SpanLine(
        start_ns=start,
        service=str(span.resource.attributes.get("service.name", "?")),
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
        kind=span.kind.name,
        name=span.name,
        duration_ms=(end - start) / 1e6,
        status=span.status.status_code.name,
        attributes=dict(span.attributes or {}),
    )
