"""A real OTLP receiver the services export to during the tests.

It takes all three signals -- traces, logs and metrics -- over OTLP/gRPC on ``endpoint`` and over
OTLP/HTTP with protobuf bodies (``POST /v1/traces``, ``/v1/logs``, ``/v1/metrics``) on
``http_endpoint``, decodes them into flat frozen records and lets tests wait for what they expect.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2
from requests import Response

SERVER = trace_pb2.Span.SpanKind.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SpanKind.SPAN_KIND_CLIENT
INTERNAL = trace_pb2.Span.SpanKind.SPAN_KIND_INTERNAL
STATUS_UNSET = trace_pb2.Status.StatusCode.STATUS_CODE_UNSET
STATUS_ERROR = trace_pb2.Status.StatusCode.STATUS_CODE_ERROR

T = TypeVar("T")


def trace_id_of(reply: Response) -> str:
    """The trace id a service's reply names in its W3C ``traceresponse`` header
    (``00-<trace>-<span>-<flags>``): where to look for its spans."""
    header = reply.headers["traceresponse"]
    version, trace_id, span_id, flags = header.split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16, header
    return trace_id


def _value(value: AnyValue) -> Any:
    """The plain Python value of an ``AnyValue``: arrays become lists, key-value lists dicts."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _hex_id(raw: bytes) -> str:
    """A trace or span id in hex, or ``""`` when it is absent (empty or all zero bytes)."""
    return raw.hex() if any(raw) else ""


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver got it, with its resource's service name."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    service: str
    attributes: dict[str, Any]
    status_code: int
    events: tuple[str, ...]
    start_ns: int
    end_ns: int
    resource: dict[str, Any] = field(repr=False)

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR

    @property
    def instance_id(self) -> str | None:
        """The ``service.instance.id`` of the process (gunicorn worker) that made it."""
        value = self.resource.get("service.instance.id")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class ReceivedLog:
    """One log record, with the trace context it was emitted in (``""`` when there was none)."""

    trace_id: str
    span_id: str
    severity_number: int
    severity_text: str
    body: Any
    service: str
    attributes: dict[str, Any]
    time_ns: int
    resource: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ReceivedPoint:
    """One metric data point, flattened together with its metric's name, unit and kind.

    ``kind`` is ``"sum"``, ``"gauge"``, ``"histogram"`` or ``"exponential_histogram"``. ``value``
    is the sum's or gauge's value, or a histogram's ``sum``; ``count`` is a histogram's count (0
    for sums and gauges); ``bucket_counts`` and ``explicit_bounds`` are only set for (explicit
    bucket) histograms.
    """

    name: str
    unit: str
    kind: str
    service: str
    attributes: dict[str, Any]
    value: float | int
    count: int
    bucket_counts: tuple[int, ...]
    explicit_bounds: tuple[float, ...]
    start_ns: int
    time_ns: int
    resource: dict[str, Any] = field(repr=False)

    @property
    def instance_id(self) -> Any:
        """The ``service.instance.id`` of the process that exported the point, if it set one."""
        return self.resource.get("service.instance.id")


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
                        attributes=_attributes(span.attributes),
                        status_code=span.status.code,
                        events=tuple(event.name for event in span.events),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        resource=resource,
                    )
                )
    return received


def _received_logs(request: logs_service_pb2.ExportLogsServiceRequest) -> list[ReceivedLog]:
    received = []
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                received.append(
                    ReceivedLog(
                        trace_id=_hex_id(record.trace_id),
                        span_id=_hex_id(record.span_id),
                        severity_number=record.severity_number,
                        severity_text=record.severity_text,
                        body=_value(record.body),
                        service=str(resource.get("service.name")),
                        attributes=_attributes(record.attributes),
                        time_ns=record.time_unix_nano or record.observed_time_unix_nano,
                        resource=resource,
                    )
                )
    return received


def _points(metric: Any) -> Iterable[tuple[str, Any]]:
    """``(kind, data point)`` for each point of ``metric``; summaries are skipped."""
    kind = metric.WhichOneof("data")
    if kind in ("sum", "gauge", "histogram", "exponential_histogram"):
        for point in getattr(metric, kind).data_points:
            yield kind, point


def _received_points(
    request: metrics_service_pb2.ExportMetricsServiceRequest,
) -> list[ReceivedPoint]:
    received = []
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for kind, point in _points(metric):
                    if kind in ("sum", "gauge"):
                        number = point.WhichOneof("value")
                        value = getattr(point, number) if number else 0
                        count = 0
                    else:
                        value = point.sum if point.HasField("sum") else 0
                        count = point.count
                    histogram = kind == "histogram"
                    received.append(
                        ReceivedPoint(
                            name=metric.name,
                            unit=metric.unit,
                            kind=kind,
                            service=str(resource.get("service.name")),
                            attributes=_attributes(point.attributes),
                            value=value,
                            count=count,
                            bucket_counts=tuple(point.bucket_counts) if histogram else (),
                            explicit_bounds=tuple(point.explicit_bounds) if histogram else (),
                            start_ns=point.start_time_unix_nano,
                            time_ns=point.time_unix_nano,
                            resource=resource,
                        )
                    )
    return received


@dataclass(frozen=True)
class _Signal:
    """How one OTLP signal is decoded, answered and served over gRPC."""

    name: str
    request: Any
    response: Any
    decode: Callable[[Any], list[Any]]
    servicer: Any
    register: Callable[[Any, grpc.Server], None]


_SIGNALS = {
    signal.name: signal
    for signal in (
        _Signal(
            "traces",
            trace_service_pb2.ExportTraceServiceRequest,
            trace_service_pb2.ExportTraceServiceResponse,
            _received_spans,
            trace_service_pb2_grpc.TraceServiceServicer,
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server,
        ),
        _Signal(
            "logs",
            logs_service_pb2.ExportLogsServiceRequest,
            logs_service_pb2.ExportLogsServiceResponse,
            _received_logs,
            logs_service_pb2_grpc.LogsServiceServicer,
            logs_service_pb2_grpc.add_LogsServiceServicer_to_server,
        ),
        _Signal(
            "metrics",
            metrics_service_pb2.ExportMetricsServiceRequest,
            metrics_service_pb2.ExportMetricsServiceResponse,
            _received_points,
            metrics_service_pb2_grpc.MetricsServiceServicer,
            metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
        ),
    )
}


_HTTP_PATHS = {f"/v1/{name}": signal for name, signal in _SIGNALS.items()}


def _grpc_servicer(receiver: OtlpReceiver, signal: _Signal) -> Any:
    """An instance of ``signal``'s generated servicer whose ``Export`` hands to ``receiver``."""

    def Export(self: Any, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method
        receiver._export("grpc", signal, request)
        return signal.response()

    return type(f"_{signal.name.title()}Service", (signal.servicer,), {"Export": Export})()


def _http_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class OtlpHttpHandler(BaseHTTPRequestHandler):
        """OTLP/HTTP with protobuf bodies (``POST /v1/{traces,logs,metrics}``), as a collector
        takes it, gzip- or deflate-compressed or not."""

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signal = _HTTP_PATHS.get(self.path)
            if signal is None:
                self.send_error(404)
                return
            try:
                encoding = self.headers.get("Content-Encoding", "").strip().lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                export = signal.request.FromString(body)
            except Exception as error:  # a corrupt body or compression, or not protobuf
                self.send_error(400, f"undecodable OTLP {signal.name} body: {error}")
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver._export("http", signal, export, headers)
            reply = signal.response().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return OtlpHttpHandler


class OtlpReceiver:
    """Collects every span, log record and metric point exported to ``endpoint`` (OTLP/gRPC) or
    ``http_endpoint`` (OTLP/HTTP) and lets tests wait for what they expect.

    ``received_via`` lists ``(transport, signal)`` for every export request, in arrival order,
    e.g. ``("grpc", "logs")`` or ``("http", "metrics")``; ``http_headers`` the lower-cased headers
    of every OTLP/HTTP export request, whatever its signal.
    """

    def __init__(self) -> None:
        self._received: dict[str, list[Any]] = {name: [] for name in _SIGNALS}
        self.http_headers: list[dict[str, str]] = []
        self.received_via: list[tuple[str, str]] = []
        self._changed = threading.Condition()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        for signal in _SIGNALS.values():
            signal.register(_grpc_servicer(self, signal), self._server)
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

    def _export(
        self, transport: str, signal: _Signal, request: Any, headers: dict[str, str] | None = None
    ) -> None:
        items = signal.decode(request)
        with self._changed:
            if headers is not None:
                self.http_headers.append(headers)
            self.received_via.append((transport, signal.name))
            self._received[signal.name].extend(items)
            self._changed.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._received["traces"])

    def logs(self) -> list[ReceivedLog]:
        with self._changed:
            return list(self._received["logs"])

    def points(self) -> list[ReceivedPoint]:
        """Every metric data point received so far, in arrival order.

        Exporters with cumulative temporality (the SDK's default) resend every series' running
        total each export interval, so one series shows up many times here; to check a series'
        current value, pick its newest point (the largest ``time_ns``) yourself.
        """
        with self._changed:
            return list(self._received["metrics"])

    def _wait(
        self,
        signal: str,
        predicate: Callable[[list[T]], bool],
        select: Callable[[T], bool],
        timeout: float,
        describe: Callable[[T], str],
        distinct: bool = False,
    ) -> list[T]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                chosen: list[T] = [item for item in self._received[signal] if select(item)]
                if predicate(chosen):
                    return chosen
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [describe(item) for item in chosen]
                    raise AssertionError(
                        f"timed out waiting for {signal}; have {len(chosen)}: "
                        + ", ".join(dict.fromkeys(seen) if distinct else seen)
                    )
                self._changed.wait(remaining)

    def wait_for(
        self,
        predicate: Callable[[list[ReceivedSpan]], bool],
        select: Callable[[ReceivedSpan], bool] = lambda span: True,
        timeout: float = 20.0,
    ) -> list[ReceivedSpan]:
        """Wait until ``predicate`` holds for the spans ``select`` picks; return them."""
        return self._wait("traces", predicate, select, timeout, lambda s: f"{s.service}:{s.name}")

    def wait_for_trace(
        self, trace_id: str, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """Wait until the spans of ``trace_id`` satisfy ``predicate``."""
        return self.wait_for(predicate, lambda span: span.trace_id == trace_id, timeout)

    def wait_for_logs(
        self,
        predicate: Callable[[list[ReceivedLog]], bool],
        select: Callable[[ReceivedLog], bool] = lambda log: True,
        timeout: float = 20.0,
    ) -> list[ReceivedLog]:
        """Wait until ``predicate`` holds for the log records ``select`` picks; return them."""
        return self._wait(
            "logs", predicate, select, timeout, lambda log: f"{log.service}:{str(log.body)[:60]!r}"
        )

    def wait_for_points(
        self,
        predicate: Callable[[list[ReceivedPoint]], bool],
        select: Callable[[ReceivedPoint], bool] = lambda point: True,
        timeout: float = 20.0,
    ) -> list[ReceivedPoint]:
        """Wait until ``predicate`` holds for the metric points ``select`` picks; return them.

        Cumulative series repeat in every export (see ``points``), so a predicate should look at
        the newest point of a series rather than count points.
        """
        return self._wait(
            "metrics", predicate, select, timeout, lambda p: f"{p.service}:{p.name}", distinct=True
        )
