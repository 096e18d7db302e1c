"""``/api/metrics`` from what the services export to ``/otlp-http/v1/metrics`` (no collector).

The exports are real: an SDK ``MeterProvider`` records inside a real span (the ``trace_based``
exemplar filter, the SDK's default, keeps its trace), and the OTLP exporters' own encoder turns
its collection into the protobuf a service sends. The answer is read back with the Prometheus
client's OpenMetrics parser. ``tests/test_metrics_source.py`` compares it with the real
Collector's exporter.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.metrics_core import Metric as Family

from frontend import create_app, metrics_file
from frontend.openmetrics import metric_name
from frontend.settings import FrontendSettings
from tests.exposition import OPENMETRICS, families, samples

ROUTE = {"http.route": "/orders", "http.request.method": "POST"}
# The HTTP server duration's buckets (the instrumentation's advice, from the semantic conventions).
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@dataclass
class Worker:
    """One gunicorn worker's telemetry, as the distro sets it up: its own providers and
    ``service.instance.id``."""

    instance: str
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    @classmethod
    def start(cls, instance: str, service: str = "order-service") -> Worker:
        resource = Resource.create({"service.name": service, "service.instance.id": instance})
        reader = InMemoryMetricReader()
        return cls(
            instance,
            reader,
            TracerProvider(resource=resource),
            MeterProvider(resource=resource, metric_readers=[reader]),
        )

    def serve_order(self, seconds: float) -> tuple[str, str]:
        """One order's server duration and count, recorded inside its span (as the Flask
        instrumentation does); its trace and span ids."""
        meter = self.meter_provider.get_meter("opentelemetry.instrumentation.flask", "0.66b1")
        duration = meter.create_histogram(
            "http.server.request.duration", unit="s", explicit_bucket_boundaries_advisory=BOUNDS
        )
        orders = self.meter_provider.get_meter("tracing-demo").create_counter(
            "app.orders", unit="{order}", description="Orders, by outcome."
        )
        with self.tracer_provider.get_tracer("test").start_as_current_span("POST /orders") as span:
            duration.record(seconds, ROUTE)
            orders.add(1, {"app.outcome": "placed"})
            context = span.get_span_context()
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def export(self) -> bytes:
        """What the OTLP/HTTP exporter sends at its next interval."""
        collected = self.reader.get_metrics_data()
        assert collected is not None
        return bytes(encode_metrics(collected).SerializeToString())


@pytest.fixture
def settings(tmp_path: Path) -> FrontendSettings:
    return FrontendSettings.from_env({"METRICS_FILE": str(tmp_path / "metrics.pb")})


@pytest.fixture
def client(settings: FrontendSettings) -> FlaskClient:
    return create_app(settings).test_client()


@pytest.fixture
def worker() -> Iterator[Worker]:
    started = Worker.start("worker-1")
    yield started
    started.meter_provider.shutdown()


def send(client: FlaskClient, export: bytes) -> None:
    answer = client.post(
        "/otlp-http/v1/metrics", data=export, content_type="application/x-protobuf"
    )
    assert answer.status_code == 200, answer.text
    assert answer.mimetype == "application/x-protobuf"


def served(client: FlaskClient) -> dict[str, Family]:
    answer = client.get("/api/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == OPENMETRICS
    return families(answer.text)


def test_an_order_is_served_with_its_trace_as_the_exemplar_of_its_bucket(
    client: FlaskClient, worker: Worker
) -> None:
    trace_id, span_id = worker.serve_order(0.042)
    send(client, worker.export())

    found = served(client)
    duration = found["http_server_request_duration_seconds"]
    assert duration.type == "histogram"
    (count,) = samples(duration, "http_server_request_duration_seconds_count")
    assert count.value == 1
    assert count.labels == {
        "http_route": "/orders",
        "http_request_method": "POST",
        "job": "order-service",
        "instance": "worker-1",
        "otel_scope_name": "opentelemetry.instrumentation.flask",
        "otel_scope_version": "0.66b1",
        "otel_scope_schema_url": "",
    }
    buckets = samples(duration, "http_server_request_duration_seconds_bucket")
    assert [float(b.labels["le"]) for b in buckets] == [*BOUNDS, float("inf")]
    assert [b.value for b in buckets] == [0, 0, 0, *[1] * 12]
    (with_exemplar,) = [b for b in buckets if b.exemplar]
    assert with_exemplar.labels["le"] == "0.05"  # the first bucket 42 ms falls in
    assert with_exemplar.exemplar is not None
    assert with_exemplar.exemplar.labels == {"trace_id": trace_id, "span_id": span_id}
    assert with_exemplar.exemplar.value == pytest.approx(0.042)

    orders = found["app_orders"]
    assert orders.type == "counter"
    (placed,) = samples(orders, "app_orders_total", app_outcome="placed")
    assert placed.value == 1 and placed.exemplar is not None
    assert placed.exemplar.labels == {"trace_id": trace_id, "span_id": span_id}

    (target,) = found["target_info"].samples
    assert target.labels["job"] == "order-service" and target.labels["instance"] == "worker-1"
    assert target.labels["telemetry_sdk_language"] == "python"
    assert "service_name" not in target.labels


def test_each_export_replaces_the_last_and_an_older_one_changes_nothing(
    client: FlaskClient, worker: Worker
) -> None:
    worker.serve_order(0.042)
    first = worker.export()
    worker.serve_order(0.3)
    second = worker.export()
    send(client, first)
    send(client, second)
    send(client, first)  # late, through another frontend worker

    duration = served(client)["http_server_request_duration_seconds"]
    (count,) = samples(duration, "http_server_request_duration_seconds_count")
    assert count.value == 2
    # The second interval's exemplar alone: the SDK's reservoirs start afresh at each export.
    assert [b.labels["le"] for b in duration.samples if b.exemplar] == ["0.5"]

    send(client, worker.export())  # an interval without orders: the same count, no exemplar
    duration = served(client)["http_server_request_duration_seconds"]
    assert samples(duration, "http_server_request_duration_seconds_count")[0].value == 2
    assert not [sample for sample in duration.samples if sample.exemplar]


def test_each_worker_is_an_instance_of_its_own(client: FlaskClient, worker: Worker) -> None:
    other = Worker.start("worker-2")
    try:
        worker.serve_order(0.01)
        other.serve_order(0.01)
        other.serve_order(0.01)
        send(client, worker.export())
        send(client, other.export())
    finally:
        other.meter_provider.shutdown()

    found = served(client)
    counts = {
        sample.labels["instance"]: sample.value
        for sample in samples(found["app_orders"], "app_orders_total")
    }
    assert counts == {"worker-1": 1, "worker-2": 2}
    assert {sample.labels["instance"] for sample in found["target_info"].samples} == {
        "worker-1",
        "worker-2",
    }


def test_a_series_not_updated_for_five_minutes_is_dropped(
    client: FlaskClient, worker: Worker, settings: FrontendSettings
) -> None:
    worker.serve_order(0.01)
    send(client, worker.export())
    sent_ns = max(
        map(metrics_file.point_time_ns, metrics_file.read(settings.metrics_file).resource_metrics)
    )
    expired_ns = sent_ns + metrics_file.EXPIRATION_NS
    assert len(metrics_file.latest_points(settings.metrics_file, expired_ns)) > 0
    assert metrics_file.latest_points(settings.metrics_file, expired_ns + 1) == []


def test_with_nothing_exported_yet_the_answer_is_an_empty_exposition(client: FlaskClient) -> None:
    answer = client.get("/api/metrics")
    assert (answer.status_code, answer.text) == (200, "# EOF\n")
    assert answer.headers["Content-Type"] == OPENMETRICS


def test_what_is_not_an_otlp_export_is_refused(client: FlaskClient) -> None:
    answer = client.post("/otlp-http/v1/metrics", data=b"\xff not protobuf")
    assert answer.status_code == 400
    assert answer.json == {
        "error": "invalid_otlp",
        "message": "Not an OTLP/protobuf metrics export.",
    }


def test_with_a_collector_but_no_prometheus_exporter_the_page_is_told_where_metrics_are(
    tmp_path: Path,
) -> None:
    """SigNoz, say: the services' metrics go to the backend, and nothing here holds them."""
    settings = FrontendSettings.from_env({"COLLECTOR_OTLP_HTTP_URL": "http://collector:4318"})
    answer = create_app(settings).test_client().get("/api/metrics")
    assert answer.status_code == 404
    assert answer.json is not None and answer.json["error"] == "no_metrics_source"
    assert "metrics backend" in answer.json["message"]


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
        ("app.orders", "{order}", "counter", "app_orders_total"),
        ("app.money.moved", "{cent}", "counter", "app_money_moved_total"),
        ("db.client.connections.usage", "{connection}", "gauge", "db_client_connections_usage"),
        ("requests.total", "1", "counter", "requests_total"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("network.io", "By/s", "gauge", "network_io_bytes_per_second"),
        ("latency.seconds", "s", "histogram", "latency_seconds"),
        ("2xx.count", "", "counter", "_2xx_count_total"),
    ],
)
def test_names_are_built_as_the_collectors_exporter_builds_them(
    name: str, unit: str, kind: str, expected: str
) -> None:
    assert metric_name(name, unit, kind) == expected


def _export_of(instance: str, value: int) -> ExportMetricsServiceRequest:
    """One counter point of one worker (``service.instance.id`` = ``instance``)."""
    export = ExportMetricsServiceRequest()
    resource_metrics = export.resource_metrics.add()
    resource_metrics.resource.attributes.add(
        key="service.instance.id"
    ).value.string_value = instance
    metric = resource_metrics.scope_metrics.add().metrics.add(name="app.orders")
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = 2  # cumulative
    point = metric.sum.data_points.add(as_int=value)
    point.time_unix_nano = time.time_ns()
    return export


def _export_many(path: str, instance: str) -> None:
    for value in range(1, 41):
        metrics_file.keep_latest(path, _export_of(instance, value), time.time_ns())


def test_workers_exporting_at_once_each_keep_their_series(tmp_path: Path) -> None:
    """The frontend's workers merge into one file under its lock: with two processes merging
    at once, neither's series is lost (each export holds only its own worker's series)."""
    path = str(tmp_path / "metrics.pb")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_export_many, args=(path, name)) for name in ("a", "b")]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    kept = {
        points.resource.attributes[0].value.string_value: points.scope_metrics[0]
        .metrics[0]
        .sum.data_points[0]
        .as_int
        for points in metrics_file.latest_points(path, time.time_ns())
    }
    assert kept == {"a": 40, "b": 40}
