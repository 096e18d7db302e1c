"""The API's errors: each one a status and a code, answered as ``{"error", "message"}``."""

from __future__ import annotations


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
