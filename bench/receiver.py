"""An OTLP/gRPC trace receiver that only counts: cheap enough to sit under a benchmark."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class CountingReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Counts spans per service name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def Export(  # noqa: N802 - the gRPC method name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        batch: Counter[str] = Counter()
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "?",
            )
            batch[service] += sum(len(scope.spans) for scope in resource_spans.scope_spans)
        with self._lock:
            self.counts.update(batch)
        return trace_service_pb2.ExportTraceServiceResponse()

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def settle(self, quiet_s: float = 1.5, timeout_s: float = 30.0) -> int:
        """Wait until no span arrived for ``quiet_s``; return the total."""
        deadline = time.monotonic() + timeout_s
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = self.total()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
            time.sleep(0.1)
        return self.total()

    def start(self) -> CountingReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)
