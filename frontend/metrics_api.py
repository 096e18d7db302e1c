"""``/api/metrics``: the services' metrics as OpenMetrics text with exemplars, for the page.

The page reads one metrics shape, what the Collector's ``prometheus`` exporter serves with
``enable_open_metrics: true`` (``frontend.openmetrics`` says what that is), from its own origin:

- with ``COLLECTOR_PROMETHEUS_URL`` set (compose, the ``jaeger`` Kubernetes overlay), the
  request goes to that exporter's ``/metrics``, asking for OpenMetrics, as nginx does in the
  containers;
- without a collector (``make run``), the services export their metrics here, to
  ``/otlp-http/v1/metrics``, and this module renders the latest point of every series
  (``frontend.metrics_file``) in the same shape;
- otherwise (SigNoz, another backend) there is nothing to read here: a 404 ``no_metrics_source``
  tells the page that the metrics are in the backend.
"""

from __future__ import annotations

import gzip
import time

import requests
from flask import Blueprint, Response, current_app, request
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from frontend import metrics_file
from frontend.openmetrics import CONTENT_TYPE, OPENMETRICS_ACCEPT, render
from frontend.proxy import forward_to_collector, json_error
from frontend.settings import FrontendSettings

bp = Blueprint("metrics_api", __name__)
_session = requests.Session()

NO_METRICS_SOURCE = (
    "This page reads metrics from the Collector's prometheus exporter (COLLECTOR_PROMETHEUS_URL) "
    "or, without a collector, from what the services send the frontend server; neither is set "
    "up here, so the services' metrics are in the metrics backend."
)

# Word for word nginx's, when nothing answers there.
NO_METRICS_ANSWER = (
    "No metrics endpoint answers at COLLECTOR_PROMETHEUS_URL: "
    "the services send their metrics to the metrics backend."
)


def _settings() -> FrontendSettings:
    settings: FrontendSettings = current_app.extensions["settings"]
    return settings


@bp.get("/api/metrics")
def metrics() -> Response:
    """The Collector's exporter's answer, the kept points rendered, or a 404 saying neither."""
    settings = _settings()
    if settings.collector_prometheus_url:
        return _scrape(settings.collector_prometheus_url)
    if settings.collector_otlp_http_url:
        return json_error(404, "no_metrics_source", NO_METRICS_SOURCE)
    points = metrics_file.latest_points(settings.metrics_file, time.time_ns())
    return Response(
        render(points), content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
    )


def _scrape(exporter_url: str) -> Response:
    """The exporter's ``/metrics`` in OpenMetrics (it answers the older text format, which has
    no exemplars, unless asked); when it does not answer, the same 404 as nginx's."""
    try:
        upstream = _session.get(
            exporter_url + "/metrics", headers={"Accept": OPENMETRICS_ACCEPT}, timeout=(2, 10)
        )
    except requests.RequestException:
        return json_error(404, "no_metrics_source", NO_METRICS_ANSWER)
    return Response(
        upstream.content,
        status=upstream.status_code,
        content_type=upstream.headers.get("Content-Type", CONTENT_TYPE),
        headers={"Cache-Control": "no-store"},
    )


@bp.post("/otlp-http/v1/metrics")
def service_metrics() -> Response:
    """A service's metrics: to the collector, or (no collector) into the metrics file."""
    settings = _settings()
    if settings.collector_otlp_http_url:
        return forward_to_collector(settings.collector_otlp_http_url, "/v1/metrics")
    body = request.get_data()
    try:
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportMetricsServiceRequest.FromString(body)
    except Exception:  # noqa: BLE001 - gzip and protobuf raise several kinds
        return json_error(400, "invalid_otlp", "Not an OTLP/protobuf metrics export.")
    metrics_file.keep_latest(settings.metrics_file, export, time.time_ns())
    return Response(
        ExportMetricsServiceResponse().SerializeToString(), mimetype="application/x-protobuf"
    )
