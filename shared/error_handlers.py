"""Every exception a request raises becomes the one JSON error shape, in one place.

Server-side failures also mark the current span failed, so the trace shows where it started.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from opentelemetry import trace
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from shared.contract import Error
from shared.errors import ApiError
from shared.spans import mark_span_failed

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, **details: object) -> Response:
    """The one error body every service returns."""
    response = jsonify(Error(error=code, message=message, **details).model_dump())
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


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
