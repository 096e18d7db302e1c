"""The services' latest metric points, kept in one file that every frontend worker shares.

Without a collector (``make run``), the services export their metrics over OTLP/HTTP to the
frontend server (``/otlp-http/v1/metrics``) every ``OTEL_METRIC_EXPORT_INTERVAL``: each export
holds the cumulative point of every series of one gunicorn worker (one ``service.instance.id``).
What is kept is what the Collector's ``prometheus`` exporter keeps:

- per series (resource, scope, metric, attributes), its latest point: a point older than the
  kept one (two frontend workers may take one worker's exports out of order) changes nothing;
- with that point's exemplars only: the SDK's reservoirs start afresh at every export, so an
  exemplar is there until the series' next export replaces it;
- a series not updated for ``EXPIRATION_NS`` is dropped (the exporter's ``metric_expiration``
  default): a stopped worker's series go away.

Any frontend worker may take any export, so the points live in ``METRICS_FILE``, an OTLP
``ExportMetricsServiceRequest`` whose every ``ResourceMetrics`` holds one series' point. A worker
merges an export into it under an exclusive lock (a ``.lock`` file beside it) and replaces it
whole (a rename), so a reader never needs the lock and never sees half a file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics

# The Collector's prometheus exporter's metric_expiration default: five minutes.
EXPIRATION_NS = 5 * 60 * 1_000_000_000

# resource, scope, scope's schema, metric name, kind of data, attributes.
SeriesKey = tuple[bytes, bytes, str, str, str, bytes]


def _key_of(pairs: Iterable[KeyValue]) -> bytes:
    """Attributes as bytes, equal for equal sets whatever their order."""
    return b"\n".join(sorted(pair.SerializeToString(deterministic=True) for pair in pairs))


def series_points(
    export: ExportMetricsServiceRequest,
) -> Iterator[tuple[SeriesKey, ResourceMetrics]]:
    """Every point of ``export`` as a ``ResourceMetrics`` of its own (its resource, its scope,
    its metric), with the key of its series."""
    for resource_metrics in export.resource_metrics:
        resource = _key_of(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.SerializeToString(deterministic=True)
            for metric in scope_metrics.metrics:
                data = metric.WhichOneof("data")
                if data is None:
                    continue
                alone = Metric()
                alone.CopyFrom(metric)
                del getattr(alone, data).data_points[:]
                for point in getattr(metric, data).data_points:
                    single = ResourceMetrics(
                        resource=resource_metrics.resource, schema_url=resource_metrics.schema_url
                    )
                    kept = single.scope_metrics.add(
                        scope=scope_metrics.scope, schema_url=scope_metrics.schema_url
                    ).metrics.add()
                    kept.CopyFrom(alone)
                    getattr(kept, data).data_points.add().CopyFrom(point)
                    key = (resource, scope, scope_metrics.schema_url, metric.name, data)
                    yield (*key, _key_of(point.attributes)), single


def point_time_ns(single: ResourceMetrics) -> int:
    """When the one point of ``single`` was taken."""
    metric = single.scope_metrics[0].metrics[0]
    data = metric.WhichOneof("data")
    assert data is not None
    point: Any = getattr(metric, data).data_points[0]
    return int(point.time_unix_nano)


def merge(
    kept: ExportMetricsServiceRequest, export: ExportMetricsServiceRequest, now_ns: int
) -> ExportMetricsServiceRequest:
    """``kept`` with every series of ``export`` at its later point, and none expired."""
    series = dict(series_points(kept))
    for key, single in series_points(export):
        before = series.get(key)
        if before is None or point_time_ns(single) >= point_time_ns(before):
            series[key] = single
    return ExportMetricsServiceRequest(resource_metrics=fresh(series.values(), now_ns))


def fresh(points: Iterable[ResourceMetrics], now_ns: int) -> list[ResourceMetrics]:
    """The points updated within ``EXPIRATION_NS`` of ``now_ns``."""
    return [single for single in points if now_ns - point_time_ns(single) <= EXPIRATION_NS]


def read(path: str) -> ExportMetricsServiceRequest:
    """What the file at ``path`` holds (nothing if there is no such file)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return ExportMetricsServiceRequest()
    try:
        kept: ExportMetricsServiceRequest = ExportMetricsServiceRequest.FromString(data)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
        return ExportMetricsServiceRequest()  # not ours: replaced whole at the next export
    return kept


def keep_latest(path: str, export: ExportMetricsServiceRequest, now_ns: int) -> None:
    """Merge ``export`` into the file at ``path``, one worker at a time."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = merge(read(path), export, now_ns).SerializeToString()
        # Under the lock, one name for the new file is enough.
        new = target.with_name(f"{target.name}.new")
        new.write_bytes(merged)
        os.replace(new, target)


def latest_points(path: str, now_ns: int) -> list[ResourceMetrics]:
    """The points the file at ``path`` keeps that have not expired by ``now_ns``."""
    return fresh(read(path).resource_metrics, now_ns)
