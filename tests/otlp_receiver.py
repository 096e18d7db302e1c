"""A real OTLP/gRPC trace receiver the services export to during the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

SERVER = trace_pb2.Span.SpanKind.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SpanKind.SPAN_KIND_CLIENT
INTERNAL = trace_pb2.Span.SpanKind.SPAN_KIND_INTERNAL
STATUS_UNSET = trace_pb2.Status.StatusCode.STATUS_CODE_UNSET
STATUS_ERROR = trace_pb2.Status.StatusCode.STATUS_CODE_ERROR


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver got it, with its resource's service name and pid."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    service: str
    pid: int | None
    attributes: dict[str, Any]
    status_code: int
    events: tuple[str, ...]
    start_ns: int
    end_ns: int
    resource: dict[str, Any] = field(repr=False)

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR


def _received_spans(request: trace_service_pb2.ExportTraceServiceRequest) -> list[ReceivedSpan]:
    received = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=span.kind,
                        service=str(resource.get("service.name")),
                        pid=resource.get("process.pid"),
                        attributes=_attributes(span.attributes),
                        status_code=span.status.code,
                        events=tuple(event.name for event in span.events),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        resource=resource,
                    )
                )
    return received


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def Export(  # noqa: N802 - the gRPC method name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.receiver._add(_received_spans(request))
        return trace_service_pb2.ExportTraceServiceResponse()


def _http_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class OtlpHttpHandler(BaseHTTPRequestHandler):
        """OTLP/HTTP with protobuf bodies: ``POST /v1/traces``, as a collector takes it."""

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            export = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            receiver.http_headers.append({k.lower(): v for k, v in self.headers.items()})
            receiver._add(_received_spans(export))
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return OtlpHttpHandler


class OtlpReceiver:
    """Collects every span exported to ``endpoint`` and lets tests wait for what they expect."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self.http_headers: list[dict[str, str]] = []
        self._changed = threading.Condition()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(self))
        self.http_endpoint = f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> OtlpReceiver:
        self._server.start()
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
        self._http.shutdown()
        self._http.server_close()

    def _add(self, spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self._spans.extend(spans)
            self._changed.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans() if span.trace_id == trace_id]

    def wait_for(
        self,
        predicate: Callable[[list[ReceivedSpan]], bool],
        select: Callable[[ReceivedSpan], bool] = lambda span: True,
        timeout: float = 20.0,
    ) -> list[ReceivedSpan]:
        """Wait until ``predicate`` holds for the spans ``select`` picks; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                chosen = [span for span in self._spans if select(span)]
                if predicate(chosen):
                    return chosen
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out waiting for spans; have {len(chosen)}: "
                        + ", ".join(f"{s.service}:{s.name}" for s in chosen)
                    )
                self._changed.wait(remaining)

    def wait_for_trace(
        self, trace_id: str, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """Wait until the spans of ``trace_id`` satisfy ``predicate``."""
        return self.wait_for(predicate, lambda span: span.trace_id == trace_id, timeout)
