"""The CPU cost of one span through the SDK path, in microseconds (``python -m bench.span_cost``).

Three steps of the path a service's span takes, measured on this interpreter with the process's
CPU clock, each as the median of several rounds:

- ``create + end``: start a span, set the attributes a typical server span carries, end it,
  with the SDK tracer provider and no processor;
- ``+ batch processor``: the same into a ``BatchSpanProcessor`` whose exporter does nothing;
- ``+ OTLP encoding``: the same with an exporter that encodes every batch to OTLP protobuf bytes,
  as the OTLP exporters do before sending (the network send itself is left out).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

SPANS_PER_ROUND = 5_000
ROUNDS = 5
# What the Flask instrumentation puts on a server span (stable HTTP conventions).
SERVER_ATTRIBUTES: dict[str, str | int] = {
    "http.request.method": "GET",
    "url.scheme": "http",
    "server.address": "127.0.0.1",
    "server.port": 8080,
    "network.protocol.version": "1.1",
    "url.path": "/users/1",
    "user_agent.original": "hey/0.0.1",
    "client.address": "127.0.0.1",
    "client.port": 50000,
    "http.route": "/users/<id:user_id>",
    "http.response.status_code": 200,
}


class DiscardingExporter(SpanExporter):
    """Accepts every batch and does nothing with it."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class EncodingExporter(SpanExporter):
    """Encodes every batch to OTLP protobuf bytes, then drops them."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


def microseconds_per_span(exporter: SpanExporter | None) -> float:
    """Median CPU microseconds per span over ``ROUNDS`` rounds (flush included)."""
    provider = TracerProvider(shutdown_on_exit=False)
    processor = None
    if exporter is not None:
        processor = BatchSpanProcessor(exporter, max_queue_size=SPANS_PER_ROUND * 2)
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    results = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(SPANS_PER_ROUND):
            with tracer.start_as_current_span(
                "GET /users/<id:user_id>", kind=SpanKind.SERVER, attributes=SERVER_ATTRIBUTES
            ):
                pass
        if processor is not None:
            processor.force_flush()
        results.append((time.process_time() - started) / SPANS_PER_ROUND * 1e6)
    provider.shutdown()
    return round(statistics.median(results), 1)


def measure() -> dict[str, float]:
    """The three steps, in microseconds of CPU per span."""
    return {
        "create + end": microseconds_per_span(None),
        "+ batch processor": microseconds_per_span(DiscardingExporter()),
        "+ OTLP encoding": microseconds_per_span(EncodingExporter()),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
