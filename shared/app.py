"""What every service's app factory shares: errors, CORS, probes, request logs, the contract."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Flask, Response, current_app, jsonify, request
from flask_cors import CORS
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from shared.contract import IdConverter
from shared.db import create_db_engine, writer
from shared.errors import ApiError, InternalError, ServiceUnavailable, as_api_error
from shared.idempotency import KEY_HEADER, REPLAYED_HEADER
from shared.openapi import operation, serve_openapi
from shared.settings import Settings
from shared.spans import mark_span_failed
from shared.users_client import UsersClient

log = logging.getLogger(__name__)

PROBE_PATHS = ("/healthz", "/readyz")
# The page sends JSON, the trace context (W3C traceparent/tracestate, scenario baggage) and,
# on writes that move money, an idempotency key; it reads whether an answer was a replay.
CORS_ALLOWED_HEADERS = ["Content-Type", "traceparent", "tracestate", "baggage", KEY_HEADER]
CORS_EXPOSED_HEADERS = [REPLAYED_HEADER]
ReadinessCheck = Callable[[], None]


def create_service_app(
    import_name: str, service_name: str, settings: Settings, description: str
) -> Flask:
    """A Flask app with the demo's common behaviour; the caller adds its blueprint and checks.

    ``/openapi.json`` documents the routes the caller registers (``shared.openapi``).
    """
    app = Flask(import_name)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SERVICE_NAME"] = service_name
    app.extensions["settings"] = settings
    app.extensions["readiness_checks"] = {}
    app.url_map.converters["id"] = IdConverter
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_error_handler(Exception, _error_response)
    # CORS for the configured origins only: others get no CORS headers, so browsers refuse.
    # (The traceresponse propagator exposes its own header to the page.)
    CORS(
        app,
        origins=list(settings.cors_allowed_origins),
        methods=["GET", "POST", "PUT", "OPTIONS"],
        allow_headers=CORS_ALLOWED_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        max_age=600,
        always_send=False,  # no CORS headers for requests without an Origin
    )
    app.after_request(_vary_on_origin)
    app.after_request(_log_request)
    serve_openapi(app, service_name, description)
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.add_url_rule("/readyz", "readyz", _readyz)
    return app


def attach_database(app: Flask, settings: Settings) -> Engine:
    """Give the app an engine (SQL spans: the instrumentation wraps ``create_engine``) and a
    readiness check for it."""
    engine = create_db_engine(settings.database_url, settings.idempotency_wait_seconds)
    app.extensions["sessionmaker"] = sessionmaker(engine)
    app.extensions["write_sessionmaker"] = sessionmaker(writer(engine))
    add_readiness_check(app, "database", lambda: _ping_database(engine))
    return engine


def attach_users_client(app: Flask, settings: Settings) -> UsersClient:
    """Give the app its pooled client to the users service, and a readiness check for it."""
    users = UsersClient(
        settings.user_url,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        budget_s=settings.transfer_budget_seconds,
    )
    app.extensions["users_client"] = users
    add_readiness_check(app, "users-service", users.check_health)
    return users


def users_client() -> UsersClient:
    """The current app's client to the users service."""
    client: UsersClient = current_app.extensions["users_client"]
    return client


def db_session(*, writes: bool = False) -> Session:
    """A new session; the caller owns the transaction (``session.begin()``).

    ``writes=True`` for a transaction that will write: on SQLite it takes the write lock at
    BEGIN, so concurrent writers queue instead of failing; reads never wait for writers.
    """
    factory: sessionmaker[Session] = current_app.extensions[
        "write_sessionmaker" if writes else "sessionmaker"
    ]
    return factory()


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    """Register a check ``/readyz`` runs; it passes by returning and fails by raising."""
    app.extensions["readiness_checks"][name] = check


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@operation(200, dict[str, str])
def _healthz() -> Response:
    """Liveness: the process answers."""
    return jsonify(status="ok", service=current_app.config["SERVICE_NAME"])


@operation(200, dict[str, object], errors=(503,))
def _readyz() -> Response:
    """Readiness: every dependency this service needs answers now."""
    checks: Mapping[str, ReadinessCheck] = current_app.extensions["readiness_checks"]
    results: dict[str, str] = {}
    # Probes run every few seconds: keep them out of the traces.
    with suppress_instrumentation():
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except ApiError as exc:
                results[name] = exc.message
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
                results[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    if all(result == "ok" for result in results.values()):
        return jsonify(status="ready", service=current_app.config["SERVICE_NAME"], checks=results)
    failed = ", ".join(name for name, result in results.items() if result != "ok")
    return error_response(
        ServiceUnavailable(f"Not ready: {failed} unavailable.", code="not_ready", checks=results)
    )


def error_response(error: ApiError) -> Response:
    """The one error body every service returns."""
    response = jsonify(error.body().model_dump())
    response.status_code = error.status
    if error.status == 503:
        response.headers["Retry-After"] = "1"
    return response


def _error_response(exc: Exception) -> Response:
    """Every exception a request raises (werkzeug's 404, 405, 413 too), as the JSON error.

    A failure (5xx) also marks the current span failed, so the trace shows where it started,
    and is logged; a refusal (4xx) is the client's: the span and status say it, and the
    business steps that count outcomes (``shared.metrics.count_outcome``) log it.
    """
    error = as_api_error(exc)
    if error.outcome == "failed":
        mark_span_failed(trace.get_current_span(), exc)
        if isinstance(error, InternalError):
            log.exception("unhandled error")
        else:
            log.warning("%s: %s", error.code, getattr(exc, "orig", None) or error.message)
    response = error_response(error)
    allowed = getattr(exc, "valid_methods", None)
    if error.status == 405 and allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _vary_on_origin(response: Response) -> Response:
    """The CORS headers depend on the Origin: caches must not serve one origin's to another."""
    response.vary.add("Origin")
    return response


def _log_request(response: Response) -> Response:
    """An access line at DEBUG: the server span already holds method, route, status and time."""
    if request.path not in PROBE_PATHS:
        log.debug("%s %s -> %d", request.method, request.path, response.status_code)
    return response
