"""The readable span lines: written by the exporter from real SDK spans, read back by the viewer."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from frontend.trace_files import parse_span_line, spans_of_trace
from shared.span_lines import SpanLine, SpanLineExporter

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _line(span_id: str, parent: str | None, start_ms: float, duration_ms: float) -> SpanLine:
    return SpanLine(
        start_ns=int(1_700_000_000_000_000_000 + start_ms * 1e6),
        service="order-service",
        trace_id=TRACE,
        span_id=span_id,
        parent_id=parent,
        kind="INTERNAL",
        name=f"step {span_id[-1]}",
        duration_ms=duration_ms,
        status="UNSET",
    )


def test_the_exporter_writes_one_parsable_line_per_sdk_span(tmp_path: Path) -> None:
    path = tmp_path / "spans.log"
    provider = TracerProvider(resource=Resource.create({"service.name": "user-service"}))
    provider.add_span_processor(SimpleSpanProcessor(SpanLineExporter(str(path))))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /users/<id>", kind=SpanKind.SERVER) as server:
        with tracer.start_as_current_span('SELECT "users"\nWHERE id = ?') as child:
            child.set_attribute("db.system", "sqlite")
            child.record_exception(TimeoutError("lock wait timeout"))
            child.set_status(Status(StatusCode.ERROR, "TimeoutError: lock wait timeout"))
    provider.shutdown()

    trace_id = f"{server.get_span_context().trace_id:032x}"
    spans = spans_of_trace(str(path), trace_id)
    assert [(s.name, s.kind, s.status) for s in spans] == [
        ("GET /users/<id>", "SERVER", "UNSET"),
        ("SELECT 'users' WHERE id = ?", "INTERNAL", "ERROR"),
    ]
    root, sql = spans
    assert root.service == sql.service == "user-service"
    assert root.parent_id is None and sql.parent_id == root.span_id
    assert sql.attributes["db.system"] == "sqlite"
    # Why it failed reads on the line itself, before the other attributes.
    assert list(sql.attributes)[:3] == ["status.message", "exception.type", "exception.message"]
    assert sql.attributes["status.message"] == "TimeoutError: lock wait timeout"
    assert sql.attributes["exception.type"] == "TimeoutError"
    assert 'status.message="TimeoutError: lock wait timeout" ' in path.read_text()
    assert sql.duration_ms <= root.duration_ms


def test_a_line_survives_format_and_parse() -> None:
    line = _line("00000000000000a1", None, 0, 12.5)
    parsed = parse_span_line(line.format())
    assert parsed is not None
    assert (parsed.span_id, parsed.parent_id, parsed.duration_ms) == (line.span_id, None, 12.5)
    assert abs(parsed.start_ns - line.start_ns) < 1000  # microsecond precision


def test_other_lines_and_other_traces_are_ignored(tmp_path: Path) -> None:
    ours = _line("00000000000000a1", None, 0, 1).format()
    other = ours.replace(TRACE, "f" * 32)
    path = tmp_path / "spans.log"
    path.write_text("\n".join(["gunicorn booting", other, ours]) + "\n")
    assert [span.span_id for span in spans_of_trace(str(path), TRACE)] == ["00000000000000a1"]
    assert parse_span_line("2026-11-20 INFO something else") is None


def test_attribute_values_come_back_with_their_types() -> None:
    values: dict[str, object] = {
        "app.user.id": 7,
        "app.rejected": True,
        "app.ratio": 0.25,
        "db.statement": "SELECT \"a b\" = 'c'\n FROM t WHERE x = ?",
        "url.full": "http://127.0.0.1:8080/users/7?x=a=b c",
        "net.peer.names": ["a b", "c"],
        "empty": "",
    }
    line = SpanLine(**{**_line("00000000000000a1", None, 0, 1).__dict__, "attributes": values})
    parsed = parse_span_line(line.format())
    assert parsed is not None
    assert dict(parsed.attributes) == values
    assert "\n" not in line.format()
