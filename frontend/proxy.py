"""Same-origin forwarding: the API paths to the services, ``/otlp-http/`` to the collector."""

from __future__ import annotations

import threading

import requests
from flask import Blueprint, Response, current_app, jsonify, request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from requests.adapters import HTTPAdapter

from frontend.otlp_lines import span_lines_from_otlp
from frontend.settings import FrontendSettings

bp = Blueprint("proxy", __name__)

# Headers that describe one hop, not the message: never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
    }
)
API_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
_session = requests.Session()
_session.mount("http://", HTTPAdapter(pool_maxsize=32))
_spans_file_lock = threading.Lock()


def json_error(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


def _settings() -> FrontendSettings:
    settings: FrontendSettings = current_app.extensions["settings"]
    return settings


def forward(base_url: str, what: str) -> Response:
    """Send this request on to ``base_url`` (same path and query) and relay the answer."""
    url = base_url + request.full_path.rstrip("?")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    try:
        upstream = _session.request(
            request.method,
            url,
            data=request.get_data(),
            headers=headers,
            timeout=(2, 30),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        message = f"The {what} is unreachable from the frontend ({type(exc).__name__})."
        return json_error(502, "upstream_unavailable", message)
    relayed = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
    return Response(upstream.content, status=upstream.status_code, headers=relayed)


@bp.route("/users", methods=API_METHODS)
@bp.route("/users/<path:_rest>", methods=API_METHODS)
def users(_rest: str = "") -> Response:
    return forward(_settings().user_url, "users service")


@bp.route("/payments/<path:_rest>", methods=API_METHODS)
def payments(_rest: str) -> Response:
    return forward(_settings().payment_url, "payment service")


@bp.route("/orders", methods=API_METHODS)
@bp.route("/orders/<path:_rest>", methods=API_METHODS)
@bp.route("/products", methods=API_METHODS)
def orders(_rest: str = "") -> Response:
    return forward(_settings().order_url, "order service")


@bp.post("/otlp-http/v1/traces")
def browser_spans() -> Response:
    """The browser's spans: to the collector, or (no collector) into the local spans file."""
    settings = _settings()
    if settings.collector_otlp_http_url:
        return forward_to_collector(settings.collector_otlp_http_url, "/v1/traces")
    try:
        export = ExportTraceServiceRequest.FromString(request.get_data())
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
        return json_error(400, "invalid_otlp", "Not an OTLP/protobuf trace export.")
    lines = "".join(line.format() + "\n" for line in span_lines_from_otlp(export))
    with _spans_file_lock, open(settings.spans_file, "a", encoding="utf-8") as spans_file:
        spans_file.write(lines)
    return Response(
        ExportTraceServiceResponse().SerializeToString(), mimetype="application/x-protobuf"
    )


def forward_to_collector(collector_url: str, path: str) -> Response:
    """This OTLP/HTTP export, to the collector's ``path`` (``/v1/traces``, ``/v1/metrics``)."""
    headers = {"Content-Type": request.headers.get("Content-Type", "application/x-protobuf")}
    if "Content-Encoding" in request.headers:  # a gzipped export stays gzipped
        headers["Content-Encoding"] = request.headers["Content-Encoding"]
    try:
        upstream = _session.post(
            collector_url + path, data=request.get_data(), headers=headers, timeout=(2, 10)
        )
    except requests.RequestException as exc:
        message = f"The collector is unreachable ({type(exc).__name__})."
        return json_error(502, "collector_unavailable", message)
    return Response(
        upstream.content,
        status=upstream.status_code,
        mimetype=upstream.headers.get("Content-Type", "application/x-protobuf"),
    )
