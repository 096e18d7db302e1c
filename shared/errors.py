"""The API's errors: each one a status and a code, answered as ``{"error", "message"}``.

:func:`as_api_error` is the one rule that gives any exception its status and code, and
:attr:`ApiError.outcome` the one rule that says what that status means: a 4xx is a refusal
the client caused, a 5xx a failure of ours. The error handlers (``shared.app``), the business
spans (``shared.spans``) and the outcome metrics (``shared.metrics``) all ask these two.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

Outcome = Literal["refused", "failed"]


class Error(BaseModel):
    """Every failure: a machine-readable code, a sentence, and details such as the field."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str


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

    @property
    def outcome(self) -> Outcome:
        """A refusal (4xx: the request was wrong, the span is not failed) or a failure (5xx)."""
        return "refused" if self.status < 500 else "failed"

    def body(self) -> Error:
        """The JSON body this error is answered with."""
        return Error(error=self.code, message=self.message, **self.details)


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


class InternalError(ApiError):
    """Something we did not expect; its text stays in the logs and the trace, not the answer."""

    status = 500
    code = "internal_error"


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


def as_api_error(exc: BaseException) -> ApiError:
    """What any exception a request raised is, as the API answers it."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OperationalError | PoolTimeoutError):
        return ServiceUnavailable("The database is not reachable.", code="database_unavailable")
    if isinstance(exc, HTTPException):  # werkzeug's own: 404, 405, 413...
        error = ApiError(exc.description or exc.name or "error")
        error.status = exc.code or 500
        error.code = (exc.name or "error").lower().replace(" ", "_")
        return error
    return InternalError("An unexpected error occurred.")
