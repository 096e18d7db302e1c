"""The OTLP receiver the services export to in the tests and under the bench.

It takes all three signals -- traces, logs and metrics -- in one of two modes:

- recording (the tests'): over OTLP/gRPC on ``endpoint`` and over OTLP/HTTP with protobuf
  bodies (``POST /v1/traces``, ``/v1/logs``, ``/v1/metrics``) on ``http_endpoint``; it decodes
  them into flat frozen records, notes how each export came (transport, headers, compression)
  and lets tests wait for what they expect;
- counting only (``make bench``'s and ``make soak``'s, cheap enough to sit under a benchmark):
  OTLP/gRPC only, and nothing is decoded beyond the lengths of the repeated fields, unless asked
  to count spans per trace id too (``by_trace``: the soak learns how many spans each kind of
  request makes that way).

Both count spans, log records and metric data points (``counts()``).
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections import Counter
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

from devkit.process import wait_until_quiet

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


def _count_spans(request: trace_service_pb2.ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


def _count_log_records(request: logs_service_pb2.ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for rl in request.resource_logs for scope in rl.scope_logs)


def _count_points(request: metrics_service_pb2.ExportMetricsServiceRequest) -> int:
    n = 0
    for resource_metrics in request.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    n += len(getattr(metric, kind).data_points)
    return n


@dataclass(frozen=True)
class Counts:
    """What a receiver got so far."""

    spans: int = 0
    log_records: int = 0
    metric_points: int = 0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.spans - other.spans,
            self.log_records - other.log_records,
            self.metric_points - other.metric_points,
        )


@dataclass(frozen=True)
class _Signal:
    """How one OTLP signal is counted, decoded, answered and served over gRPC."""

    name: str
    request: Any
    response: Any
    count: Callable[[Any], int]
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
            _count_spans,
            _received_spans,
            trace_service_pb2_grpc.TraceServiceServicer,
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server,
        ),
        _Signal(
            "logs",
            logs_service_pb2.ExportLogsServiceRequest,
            logs_service_pb2.ExportLogsServiceResponse,
            _count_log_records,
            _received_logs,
            logs_service_pb2_grpc.LogsServiceServicer,
            logs_service_pb2_grpc.add_LogsServiceServicer_to_server,
        ),
        _Signal(
            "metrics",
            metrics_service_pb2.ExportMetricsServiceRequest,
            metrics_service_pb2.ExportMetricsServiceResponse,
            _count_points,
            _received_points,
            metrics_service_pb2_grpc.MetricsServiceServicer,
            metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
        ),
    )
}


_HTTP_PATHS = {f"/v1/{name}": signal for name, signal in _SIGNALS.items()}


def _grpc_servicer(take: Callable[[_Signal, Any], None], signal: _Signal) -> Any:
    """An instance of ``signal``'s generated servicer whose ``Export`` hands to ``take``."""

    def Export(self: Any, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method
        take(signal, request)
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
            receiver._record(signal, export, "http", headers)
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
    """Takes every span, log record and metric point exported to ``endpoint`` (OTLP/gRPC) and,
    unless ``counting_only``, to ``http_endpoint`` (OTLP/HTTP).

    Recording (the default), tests wait for what they expect (``wait_for``...) and read it
    (``spans``, ``logs``, ``points``); ``received_via`` lists ``(transport, signal)`` for every
    export request, in arrival order, e.g. ``("grpc", "logs")`` or ``("http", "metrics")``;
    ``http_headers`` the lower-cased headers of every OTLP/HTTP export request, whatever its
    signal. ``counting_only``: nothing but ``counts()`` and, with ``by_trace``, ``spans_of()``.
    """

    def __init__(self, *, counting_only: bool = False, by_trace: bool = False) -> None:
        if by_trace and not counting_only:
            raise ValueError("by_trace counts without recording; a recording receiver has spans()")
        self.counting_only = counting_only
        self._counted = dict.fromkeys(_SIGNALS, 0)
        # Spans per trace id (16 raw bytes), when asked for.
        self._by_trace: Counter[bytes] | None = Counter() if by_trace else None
        self._received: dict[str, list[Any]] = {name: [] for name in _SIGNALS}
        self.http_headers: list[dict[str, str]] = []
        self.received_via: list[tuple[str, str]] = []
        self._changed = threading.Condition()
        take = self._count if counting_only else self._record
        # The bench's receiver keeps the four threads it was measured with.
        threads = 4 if counting_only else 8
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads))
        for signal in _SIGNALS.values():
            signal.register(_grpc_servicer(take, signal), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._http = (
            None if counting_only else ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(self))
        )

    @property
    def http_endpoint(self) -> str:
        if self._http is None:
            raise RuntimeError("a counting-only receiver takes OTLP/gRPC only")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> OtlpReceiver:
        self._server.start()
        if self._http is not None:
            threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def _count(self, signal: _Signal, request: Any) -> None:
        """The counting-only receiver's whole work: the lengths of the repeated fields (and each
        span's trace id, with ``by_trace``)."""
        n = signal.count(request)
        traces = self._by_trace
        with self._changed:
            self._counted[signal.name] += n
            if traces is not None and signal.name == "traces":
                traces.update(
                    span.trace_id
                    for rs in request.resource_spans
                    for scope in rs.scope_spans
                    for span in scope.spans
                )

    def _record(
        self,
        signal: _Signal,
        request: Any,
        transport: str = "grpc",
        headers: dict[str, str] | None = None,
    ) -> None:
        items = signal.decode(request)
        with self._changed:
            if headers is not None:
                self.http_headers.append(headers)
            self.received_via.append((transport, signal.name))
            self._received[signal.name].extend(items)
            self._counted[signal.name] += len(items)
            self._changed.notify_all()

    def _recorded(self, signal: str) -> list[Any]:
        """What was recorded of ``signal``; the caller holds ``_changed``."""
        if self.counting_only:
            raise RuntimeError("this receiver only counts (counting_only=True)")
        return self._received[signal]

    def counts(self) -> Counts:
        with self._changed:
            counted = self._counted
            return Counts(counted["traces"], counted["logs"], counted["metrics"])

    def spans_of(self, trace_id: str) -> int:
        """The spans received so far of the trace ``trace_id`` (32 hex digits); needs
        ``by_trace``."""
        if self._by_trace is None:
            raise RuntimeError("this receiver does not count spans per trace (by_trace=False)")
        with self._changed:
            return self._by_trace[bytes.fromhex(trace_id)]

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._recorded("traces"))

    def logs(self) -> list[ReceivedLog]:
        with self._changed:
            return list(self._recorded("logs"))

    def points(self) -> list[ReceivedPoint]:
        """Every metric data point received so far, in arrival order.

        Exporters with cumulative temporality (the SDK's default) resend every series' running
        total each export interval, so one series shows up many times here; to check a series'
        current value, pick its newest point (the largest ``time_ns``) yourself.
        """
        with self._changed:
            return list(self._recorded("metrics"))

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
                chosen: list[T] = [item for item in self._recorded(signal) if select(item)]
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


def settle(receivers: Iterable[OtlpReceiver], min_wait_s: float, quiet_s: float) -> list[Counts]:
    """Wait ``min_wait_s``, then until no span or log record reached any of ``receivers`` for
    ``quiet_s``; return each receiver's counts then.

    Metric points are left out: the periodic reader exports them all the time, load or not.
    """
    receivers = list(receivers)
    wait_until_quiet(
        lambda: [(c.spans, c.log_records) for c in (r.counts() for r in receivers)],
        quiet_s,
        min_wait_s=min_wait_s,
    )
    return [r.counts() for r in receivers]
