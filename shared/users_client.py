"""The HTTP client payment and order use to call the users service.

One pooled keep-alive session per process, with connect and read timeouts. Failures map to
the gateway errors a caller should see: unreachable → 503, too slow → 504, nonsense → 502.
Nothing non-idempotent is ever retried: a credit that timed out may have been applied.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from shared.contract import Credit, User
from shared.errors import ApiError, NotFound, ServiceUnavailable, Unprocessable


class BadGateway(ApiError):
    """The users service answered with something we cannot use."""

    status = 502
    code = "bad_gateway"


class GatewayTimeout(ApiError):
    """The users service did not answer in time."""

    status = 504
    code = "gateway_timeout"


class _RetryButNotTimeouts(Retry):
    """Never retry a read timeout: the peer is hung, and waiting twice only doubles the delay."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


# A refused connection never reached the server: safe to retry for every method. A dropped
# keep-alive connection is retried only for GET, which changes nothing.
_RETRY = _RetryButNotTimeouts(
    total=2,
    connect=2,
    read=1,
    status=0,
    other=0,
    allowed_methods=frozenset({"GET"}),
    backoff_factor=0,
    raise_on_status=False,
)


class UsersClient:
    """Calls ``/users/<id>`` on the users service at ``base_url``."""

    def __init__(
        self, base_url: str, *, connect_timeout: float, read_timeout: float, pool_size: int = 32
    ) -> None:
        self.base_url = base_url
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=_RETRY)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def get_user(self, user_id: int) -> User:
        """The user as the users service returns it; ``NotFound`` if it has no such user."""
        return _as_user(self._call("GET", f"/users/{user_id}"))

    def credit(self, user_id: int, amount: int) -> User:
        """Add ``amount`` cents to the user's balance and return the updated user."""
        credit = Credit(amount=amount).model_dump()
        return _as_user(self._call("PUT", f"/users/{user_id}", json=credit))

    def check_health(self) -> None:
        """Raise a gateway error unless the users service answers ``/healthz``."""
        self._call("GET", "/healthz")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.ConnectTimeout:
            raise ServiceUnavailable(
                "The users service did not accept the connection in time.",
                code="upstream_unavailable",
            ) from None
        except requests.exceptions.ReadTimeout:
            raise GatewayTimeout(
                "The users service did not answer in time.", code="upstream_timeout"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ServiceUnavailable(
                f"The users service is unreachable ({type(exc).__name__}).",
                code="upstream_unavailable",
            ) from None
        return _decode(response)


def _as_user(body: dict[str, Any]) -> User:
    """The contract's ``User``; anything else from the users service is a bad gateway."""
    try:
        return User.model_validate(body)
    except ValidationError:
        raise BadGateway(
            "The users service answered with something that is not a user.",
            code="bad_upstream_response",
        ) from None


def _decode(response: requests.Response) -> dict[str, Any]:
    """Pass the users service's client errors on; anything unexpected is a bad gateway."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadGateway(
            f"The users service answered {response.status_code} without a JSON object.",
            code="bad_upstream_response",
        )
    if response.ok:
        return body
    message = str(body.get("message", "The users service refused the request."))
    error_for_status: dict[int, type[ApiError]] = {
        404: NotFound,
        422: Unprocessable,
        503: ServiceUnavailable,
        504: GatewayTimeout,
    }
    error_class = error_for_status.get(response.status_code, BadGateway)
    details = {k: v for k, v in body.items() if k not in ("error", "message")}
    return_code = str(body.get("error", "upstream_error"))
    raise error_class(message, code=return_code, **details)
