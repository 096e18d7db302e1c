"""``/api/traces/<id>`` from the local files, in the shape of Jaeger's query API.

The field sets below are those of Jaeger's own fixtures (jaegertracing/jaeger at 8498073):
``cmd/jaeger/internal/extension/jaegerquery/internal/fixture/otlp2jaeger-out.json`` (the
envelope, a trace, a span, a reference, a tag, a process) and
``internal/uimodel/converter/v1/json/fixtures/ui_01.json`` (a span log and its fields). The tag
names follow Jaeger's translation of OTLP (opentelemetry-collector-contrib,
``pkg/translator/jaeger/traces_to_jaegerproto.go``): the attributes, then ``span.kind``,
``otel.status_code``, ``error``, ``otel.status_description``; events become logs whose first
field is ``event``. Tags and log fields are sorted by key, as real Jaeger answers
(``tests/test_real_jaeger.py`` compares the two sources on the same clicks).
``tests/fixtures/jaeger-payment-failure-trace.json`` is a trace of this project written in that
shape, used by the browser test of the Jaeger source.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from frontend import create_app, trace_files
from frontend.settings import FrontendSettings
from shared.log_lines import LogLine
from shared.span_lines import SpanLine

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0_NS = 1_795_325_478_186_000_000
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "jaeger-payment-failure-trace.json"

ENVELOPE = {"data", "total", "limit", "offset", "errors"}
TRACE_FIELDS = {"traceID", "spans", "processes", "warnings"}
SPAN_FIELDS = {
    "traceID",
    "spanID",
    "operationName",
    "references",
    "startTime",
    "duration",
    "tags",
    "logs",
    "processID",
    "warnings",
}
REFERENCE_FIELDS = {"refType", "traceID", "spanID"}
TAG_FIELDS = {"key", "type", "value"}
# The value's JSON type per tag type; an int64 beyond 2**53 - 1 is a decimal string (ui_01.json's
# "javascript_limit"), and binary is base64 text.
TAG_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "bool": (bool,),
    "int64": (int, str),
    "float64": (float,),
    "binary": (str,),
}
LOG_FIELDS = {"timestamp", "fields"}
PROCESS_FIELDS = {"serviceName", "tags"}


def check_jaeger_shape(answer: dict[str, Any]) -> None:
    """Every object of ``answer`` has exactly the fields Jaeger's answer has."""
    assert set(answer) == ENVELOPE
    for trace in answer["data"]:
        assert set(trace) == TRACE_FIELDS
        for process in trace["processes"].values():
            assert set(process) == PROCESS_FIELDS
            for tag in process["tags"]:
                _check_tag(tag)
        for span in trace["spans"]:
            assert set(span) == SPAN_FIELDS, span
            assert span["processID"] in trace["processes"]
            assert all(set(ref) == REFERENCE_FIELDS for ref in span["references"])
            for tag in span["tags"]:
                _check_tag(tag)
            for log in span["logs"]:
                assert set(log) == LOG_FIELDS
                for field in log["fields"]:
                    _check_tag(field)


def _check_tag(tag: dict[str, Any]) -> None:
    assert set(tag) == TAG_FIELDS, tag
    assert type(tag["value"]) in TAG_TYPES[tag["type"]], tag


def _span(span_id: str, parent: str | None, start_ms: float, duration_ms: float, **kw: Any) -> str:
    fields: dict[str, Any] = {
        "start_ns": int(T0_NS + start_ms * 1e6),
        "service": "order-service",
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_id": parent,
        "kind": "INTERNAL",
        "name": "insert order",
        "duration_ms": duration_ms,
        "status": "UNSET",
        **kw,
    }
    return SpanLine(**fields).format()


def _client(tmp_path: Path, spans: list[str], logs: list[LogLine], **env: str) -> FlaskClient:
    (tmp_path / "spans.log").write_text("".join(line + "\n" for line in spans))
    (tmp_path / "logs.log").write_text("".join(log.format() + "\n" for log in logs))
    variables = {"SPANS_FILE": str(tmp_path / "spans.log"), "LOGS_FILE": str(tmp_path / "logs.log")}
    return create_app(FrontendSettings.from_env({**variables, **env})).test_client()


def test_the_spans_and_logs_files_answer_as_jaeger_does(tmp_path: Path) -> None:
    server = "00000000000000a1"
    failed = "00000000000000a2"
    spans = [
        _span(
            server,
            None,
            0,
            12.5,
            kind="SERVER",
            name="POST /orders",
            attributes={"http.route": "/orders", "http.response.status_code": 402},
        ),
        _span(
            failed,
            server,
            2,
            3.25,
            status="ERROR",
            attributes={
                "status.message": "InsufficientFunds: 900 cents short",
                "exception.type": "shared.errors.InsufficientFunds",
                "exception.message": "900 cents short",
                "app.order.price": 1200,
                "app.ratio": 0.5,
                "app.rejected": True,
                "app.big": 2**60,
                "app.names": ["a", "b"],
            },
        ),
        _span("00000000000000b1", None, 0, 1, trace_id="f" * 32),  # another trace
    ]
    logs = [
        LogLine(T0_NS + 3_000_000, "order-service", TRACE, failed, "WARN", "refused: 900 short"),
        LogLine(T0_NS + 9_000_000, "order-service", TRACE, None, "INFO", "no span"),
    ]
    client = _client(tmp_path, spans, logs)

    response = client.get(f"/api/traces/{TRACE}")
    assert response.status_code == 200
    answer = response.get_json()
    check_jaeger_shape(answer)
    assert (answer["total"], answer["limit"], answer["offset"], answer["errors"]) == (0, 0, 0, None)
    [trace] = answer["data"]
    assert trace["traceID"] == TRACE and trace["warnings"] is None
    assert trace["processes"] == {"p1": {"serviceName": "order-service", "tags": []}}
    root, child = trace["spans"]
    assert (root["spanID"], root["references"]) == (server, [])
    assert child["references"] == [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": server}]
    # Microseconds, as Jaeger.
    assert (root["startTime"], root["duration"]) == (T0_NS // 1000, 12_500)
    assert child["startTime"] - root["startTime"] == 2000 and child["duration"] == 3250
    # Sorted by key, as Jaeger's query service answers.
    assert root["tags"] == [
        {"key": "http.response.status_code", "type": "int64", "value": 402},
        {"key": "http.route", "type": "string", "value": "/orders"},
        {"key": "span.kind", "type": "string", "value": "server"},
    ]
    assert child["tags"] == [
        {"key": "app.big", "type": "int64", "value": str(2**60)},
        {"key": "app.names", "type": "string", "value": '["a", "b"]'},
        {"key": "app.order.price", "type": "int64", "value": 1200},
        {"key": "app.ratio", "type": "float64", "value": 0.5},
        {"key": "app.rejected", "type": "bool", "value": True},
        {"key": "error", "type": "bool", "value": True},
        {"key": "otel.status_code", "type": "string", "value": "ERROR"},
        {
            "key": "otel.status_description",
            "type": "string",
            "value": "InsufficientFunds: 900 cents short",
        },
        {"key": "span.kind", "type": "string", "value": "internal"},
    ]
    # The log record on its span, then the exception event (at the span's end: the file has
    # no event time); the record without a span is not shown with a span.
    assert child["logs"] == [
        {
            "timestamp": (T0_NS + 3_000_000) // 1000,
            "fields": [
                {"key": "level", "type": "string", "value": "WARN"},
                {"key": "message", "type": "string", "value": "refused: 900 short"},
            ],
        },
        {
            "timestamp": child["startTime"] + 3250,
            "fields": [
                {"key": "event", "type": "string", "value": "exception"},
                {"key": "exception.message", "type": "string", "value": "900 cents short"},
                {
                    "key": "exception.type",
                    "type": "string",
                    "value": "shared.errors.InsufficientFunds",
                },
            ],
        },
    ]
    assert root["logs"] == []


def test_the_project_fixture_has_jaegers_shape() -> None:
    answer = json.loads(FIXTURE.read_text())
    check_jaeger_shape(answer)
    [trace] = answer["data"]
    assert {span["traceID"] for span in trace["spans"]} == {trace["traceID"]}


def test_an_unknown_trace_is_jaegers_404_and_a_bad_id_a_400(tmp_path: Path) -> None:
    client = _client(tmp_path, [], [])
    missing = client.get(f"/api/traces/{TRACE}")
    assert missing.status_code == 404
    assert missing.get_json() == {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 404, "msg": "trace not found"}],
    }
    for bad in ("xyz", TRACE.upper(), TRACE + "0"):
        answer = client.get(f"/api/traces/{bad}")
        assert answer.status_code == 400
        assert answer.get_json()["error"] == "invalid_trace_id"


def test_with_a_collector_and_no_jaeger_the_page_is_told_there_is_no_source(
    tmp_path: Path,
) -> None:
    client = _client(tmp_path, [], [], COLLECTOR_OTLP_HTTP_URL="http://127.0.0.1:4318")
    answer = client.get(f"/api/traces/{TRACE}")
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "no_trace_source"


def test_the_trace_page_is_the_static_view_for_well_formed_ids(tmp_path: Path) -> None:
    client = _client(tmp_path, [], [])
    with client.get(f"/traces/{TRACE}") as page:
        assert page.status_code == 200
        assert b"trace-view.js" in page.data and b"TraceView.watch" in page.data
    assert client.get("/traces/not-a-trace").status_code == 404


def test_recent_traces_are_read_from_the_end_and_older_ones_from_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace_files, "RECENT_BYTES", 4096)
    old, recent = "a" * 32, "b" * 32
    filler = [_span(f"{n:016x}", None, n, 1, trace_id="c" * 32) for n in range(1, 200)]
    spans = [_span("00000000000000a1", None, 0, 1, trace_id=old), *filler]
    spans += [_span("00000000000000b1", None, 300, 1, trace_id=recent)]
    # A half-written last line (cut inside a character) does not fail the request.
    client = _client(tmp_path, spans, [])
    with (tmp_path / "spans.log").open("ab") as file:
        file.write(
            f"2026-11-22T05:00:00.000000Z x trace={recent} span=".encode() + "é".encode()[:1]
        )
    for trace_id in (old, recent):
        answer = client.get(f"/api/traces/{trace_id}")
        assert answer.status_code == 200, trace_id
        assert len(answer.get_json()["data"][0]["spans"]) == 1
