"""``/api/traces/<trace_id>``: one trace as Jaeger's query API answers it, for the page's view.

The page's trace view reads a single shape, Jaeger's (``{"data": [{"traceID", "spans",
"processes", ...}], "total", "limit", "offset", "errors"}``), from its own origin:

- with ``JAEGER_QUERY_URL`` set (compose, the ``jaeger`` Kubernetes overlay), the request goes
  to Jaeger's query service, as nginx does in the containers;
- without a collector (``make run``), this module builds the same answer from the spans file
  and the logs file. Each log record becomes a log of the span it was written in, as Jaeger
  shows span events, so one renderer shows both;
- otherwise (SigNoz, another backend) there is nothing to read here: a 404 ``no_trace_source``
  tells the page to show the trace link instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from frontend.proxy import forward, json_error
from frontend.settings import FrontendSettings
from frontend.trace_files import logs_of_trace, spans_of_trace
from shared.log_lines import LogLine
from shared.span_lines import SpanLine

bp = Blueprint("trace_api", __name__)
TRACE_ID = re.compile(r"[0-9a-f]{32}")

# What the spans file keeps of a failure (see shared.span_lines.span_line) and where Jaeger's
# translation of OTLP puts it: the status message as a tag, the exception as a span log.
STATUS_MESSAGE = "status.message"
EXCEPTION_KEYS = ("exception.type", "exception.message")


# Jaeger writes an int64 beyond what a JavaScript number holds exactly as a decimal string.
JS_SAFE_INTEGER = 2**53 - 1


def jaeger_tag(key: str, value: object) -> dict[str, Any]:
    """One key/value with Jaeger's type name, its value as Jaeger's JSON writes it."""
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int):
        kind = "int64"
        value = value if abs(value) <= JS_SAFE_INTEGER else str(value)
    elif isinstance(value, float):
        kind = "float64"
    else:
        # Strings as they are; lists (and anything else) as JSON text, as Jaeger writes them.
        kind = "string"
        value = value if isinstance(value, str) else json.dumps(value)
    return {"key": key, "type": kind, "value": value}


def jaeger_span(span: SpanLine, process_id: str, logs: Iterable[LogLine]) -> dict[str, Any]:
    """One span line, with its log records, in the fields of Jaeger's JSON span."""
    attributes = dict(span.attributes)
    status_message = attributes.pop(STATUS_MESSAGE, None)
    exception = {key: attributes.pop(key) for key in EXCEPTION_KEYS if key in attributes}
    start_us = span.start_ns // 1000
    duration_us = round(span.duration_ms * 1000)
    # The tags Jaeger's translation of OTLP adds to the attributes: kind, status, error, message.
    tags = [jaeger_tag(key, value) for key, value in attributes.items()]
    if span.kind != "UNSPECIFIED":
        tags.append(jaeger_tag("span.kind", span.kind.lower()))
    if span.status != "UNSET":
        tags.append(jaeger_tag("otel.status_code", span.status))
    if span.status == "ERROR":
        tags.append(jaeger_tag("error", True))
    if status_message is not None:
        tags.append(jaeger_tag("otel.status_description", status_message))
    # Jaeger's query service answers a span's tags, and each log's fields, sorted by key.
    tags.sort(key=lambda tag: str(tag["key"]))
    span_logs = [
        {
            "timestamp": log.time_ns // 1000,
            "fields": [jaeger_tag("level", log.severity), jaeger_tag("message", log.message)],
        }
        for log in logs
    ]
    if exception:
        # The spans file keeps no event time: the exception is placed at the span's end.
        fields = [jaeger_tag("event", "exception")]
        fields += [jaeger_tag(key, value) for key, value in sorted(exception.items())]
        span_logs.append({"timestamp": start_us + duration_us, "fields": fields})
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "operationName": span.name,
        "references": (
            [{"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_id}]
            if span.parent_id
            else []
        ),
        "startTime": start_us,
        "duration": duration_us,
        "tags": tags,
        "logs": sorted(span_logs, key=lambda log: int(log["timestamp"])),
        "processID": process_id,
        "warnings": None,
    }


def jaeger_trace(trace_id: str, spans: list[SpanLine], logs: list[LogLine]) -> dict[str, Any]:
    """A trace's spans and log records as one element of Jaeger's ``data`` list."""
    process_ids: dict[str, str] = {}
    for span in spans:
        process_ids.setdefault(span.service, f"p{len(process_ids) + 1}")
    logs_by_span: dict[str | None, list[LogLine]] = {}
    for log in logs:
        logs_by_span.setdefault(log.span_id, []).append(log)
    return {
        "traceID": trace_id,
        "spans": [
            jaeger_span(span, process_ids[span.service], logs_by_span.get(span.span_id, []))
            for span in spans
        ],
        "processes": {
            process_id: {"serviceName": service, "tags": []}
            for service, process_id in process_ids.items()
        },
        "warnings": None,
    }


def jaeger_answer(data: list[Mapping[str, Any]], errors: list[Mapping[str, Any]] | None) -> Any:
    """Jaeger's envelope around a list of traces."""
    return {"data": data or None, "total": 0, "limit": 0, "offset": 0, "errors": errors}


@bp.get("/api/traces/<trace_id>")
def trace(trace_id: str) -> Response:
    """The trace from Jaeger, from the local files, or a 404 saying there is no source."""
    settings: FrontendSettings = current_app.extensions["settings"]
    if not TRACE_ID.fullmatch(trace_id):
        return json_error(400, "invalid_trace_id", "A trace id is 32 lowercase hex digits.")
    if settings.jaeger_query_url:
        return forward(settings.jaeger_query_url, "Jaeger query service")
    if settings.collector_otlp_http_url:
        return json_error(
            404,
            "no_trace_source",
            "This page reads traces from Jaeger (JAEGER_QUERY_URL) or the local spans file; "
            "neither is set up here, so follow the trace link to the trace UI.",
        )
    spans = spans_of_trace(settings.spans_file, trace_id)
    if not spans:
        response = jsonify(jaeger_answer([], [{"code": 404, "msg": "trace not found"}]))
        response.status_code = 404
        return response
    logs = logs_of_trace(settings.logs_file, trace_id)
    return jsonify(jaeger_answer([jaeger_trace(trace_id, spans, logs)], None))
