"""One JSON error shape for every failure, mapped from exceptions in one place."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; the process should not start."""


class ApiError(Exception):
    """An error the API reports as ``{"error": code, "message": message}`` with ``status``."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: object) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class BadRequest(ApiError):
    """The request is malformed: bad JSON, missing or extra fields, wrong types or values."""


class NotFound(ApiError):
    """The named user, product or route does not exist."""

    status = 404
    code = "not_found"


class Unprocessable(ApiError):
    """Well-formed, but the business rules refuse it (e.g. insufficient funds)."""

    status = 422
    code = "unprocessable"


class BadGateway(ApiError):
    """A downstream service answered with something we cannot use."""

    status = 502
    code = "bad_gateway"


class ServiceUnavailable(ApiError):
    """A dependency (database or downstream service) cannot be reached right now."""

    status = 503
    code = "service_unavailable"


class GatewayTimeout(ApiError):
    """A downstream service did not answer in time."""

    status = 504
    code = "gateway_timeout"


def error_response(status: int, code: str, message: str, **details: object) -> Response:
    """The one error body every service returns."""
    response = jsonify({"error": code, "message": message, **details})
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


def mark_span_failed(span: Span, exc: BaseException) -> None:
    """Status ERROR plus an exception event: what a trace UI shows as a failure."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _mark_span_failed(exc: BaseException) -> None:
    mark_span_failed(trace.get_current_span(), exc)


def register_error_handlers(app: Flask) -> None:
    """Turn every exception into the JSON error shape; server-side failures mark the span."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        if exc.status >= 500:
            _mark_span_failed(exc)
            log.warning("%s: %s", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.message, **exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(status, code, exc.description or exc.name)
        if status == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)
    def _database_unavailable(exc: Exception) -> Response:
        _mark_span_failed(exc)
        log.warning("database unavailable: %s", getattr(exc, "orig", exc))
        return error_response(503, "database_unavailable", "The database is not reachable.")

    @app.errorhandler(DBAPIError)
    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        _mark_span_failed(exc)
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred.")
