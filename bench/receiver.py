"""An OTLP/gRPC receiver that only counts: cheap enough to sit under a benchmark.

It takes all three signals (``TraceService``, ``LogsService`` and ``MetricsService``), so the
services export without errors, and counts spans, log records and metric data points. Nothing
is decoded beyond the lengths of the repeated fields, unless asked to count spans per trace id
too (``by_trace``: ``make soak`` learns how many spans each kind of request makes that way).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from devkit.process import wait_until_quiet


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


class _Tally:
    """The three counters, shared by the three services' handlers."""

    def __init__(self, by_trace: bool) -> None:
        self.lock = threading.Lock()
        self.spans = 0
        self.log_records = 0
        self.metric_points = 0
        # Spans per trace id (16 raw bytes), when asked for.
        self.by_trace: Counter[bytes] | None = Counter() if by_trace else None


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def Export(  # noqa: N802 - the gRPC method name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        n = sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)
        traces = self.tally.by_trace
        with self.tally.lock:
            self.tally.spans += n
            if traces is not None:
                traces.update(
                    span.trace_id
                    for rs in request.resource_spans
                    for scope in rs.scope_spans
                    for span in scope.spans
                )
        return trace_service_pb2.ExportTraceServiceResponse()


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def Export(  # noqa: N802 - the gRPC method name
        self, request: logs_service_pb2.ExportLogsServiceRequest, context: Any
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        n = sum(len(scope.log_records) for rl in request.resource_logs for scope in rl.scope_logs)
        with self.tally.lock:
            self.tally.log_records += n
        return logs_service_pb2.ExportLogsServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def Export(  # noqa: N802 - the gRPC method name
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: Any
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        n = 0
        for resource_metrics in request.resource_metrics:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    if kind:
                        n += len(getattr(metric, kind).data_points)
        with self.tally.lock:
            self.tally.metric_points += n
        return metrics_service_pb2.ExportMetricsServiceResponse()


class CountingReceiver:
    """Counts spans, log records and metric data points on ``endpoint`` (plaintext gRPC); with
    ``by_trace``, spans per trace id as well."""

    def __init__(self, *, by_trace: bool = False) -> None:
        self._tally = _Tally(by_trace)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        tally, server = self._tally, self._server
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Traces(tally), server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Logs(tally), server
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _Metrics(tally), server
        )
        self.port: int = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def counts(self) -> Counts:
        tally = self._tally
        with tally.lock:
            return Counts(tally.spans, tally.log_records, tally.metric_points)

    def spans_of(self, trace_id: str) -> int:
        """The spans received so far of the trace ``trace_id`` (32 hex digits); needs
        ``by_trace``."""
        traces = self._tally.by_trace
        if traces is None:
            raise RuntimeError("this receiver does not count spans per trace (by_trace=False)")
        with self._tally.lock:
            return traces[bytes.fromhex(trace_id)]

    def start(self) -> CountingReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)


def settle(
    receivers: Iterable[CountingReceiver], min_wait_s: float, quiet_s: float
) -> list[Counts]:
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
