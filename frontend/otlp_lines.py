"""Browser spans received over OTLP/protobuf, as readable span lines."""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from shared.span_lines import SpanLine

_KIND = {value: name.removeprefix("SPAN_KIND_") for name, value in Span.SpanKind.items()}
_STATUS = {value: name.removeprefix("STATUS_CODE_") for name, value in Status.StatusCode.items()}


def _plain(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return (
        getattr(value, kind)
        if kind in {"string_value", "int_value", "double_value", "bool_value"}
        else str(value)
    )


def span_lines_from_otlp(export: ExportTraceServiceRequest) -> Iterator[SpanLine]:
    """Every span of an OTLP export, with its resource's service name."""
    for resource_spans in export.resource_spans:
        service = "?"
        for attribute in resource_spans.resource.attributes:
            if attribute.key == "service.name":
                service = attribute.value.string_value
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield SpanLine(
                    start_ns=span.start_time_unix_nano,
                    service=service,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex() or None,
                    kind=_KIND.get(span.kind, "UNSPECIFIED"),
                    name=span.name,
                    duration_ms=(span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
                    status=_STATUS.get(span.status.code, "UNSET"),
                    attributes={a.key: _plain(a.value) for a in span.attributes},
                )
