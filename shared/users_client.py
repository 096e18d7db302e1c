"""The HTTP client payment and order use to call the users service.

One pooled keep-alive session per process, with connect and read timeouts. Failures map to
the gateway errors a caller should see: unreachable → 503, too slow → 504, nonsense → 502.

A call is retried only when no answer came (tenacity: at most three attempts, jittered backoff,
all within a time budget), each attempt its own HTTP client span: a connection refused or
reset, always; a read timeout only for a credit, which carries an idempotency key, so the
users service answers a credit it already applied with a replay instead of applying it twice.
An answer, even a 5xx, is never retried. The spans of retries carry the standard
``http.request.resend_count``, and answers to a keyed request ``app.idempotency.replayed``
(the requests instrumentation's hooks, installed by ``shared.telemetry``).
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import requests
from opentelemetry.trace import Span
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)
from urllib3.exceptions import NewConnectionError

from shared.contract import Credit, User
from shared.errors import (
    ApiError,
    BadGateway,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)
from shared.idempotency import KEY_HEADER, REPLAYED_HEADER, RequestInProgress, quoted

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Full jitter: attempt n waits a random time up to 0.1 s * 2^n (at most 1 s), so the callers
# of a users service that restarts do not all come back at the same instant.
BACKOFF_S = 0.1
BACKOFF_MAX_S = 1.0
# The attempt being made (0 for the first): the requests hook puts it on the attempt's span.
_resends: ContextVar[int] = ContextVar("users_client_resends", default=0)


@dataclass(frozen=True)
class Credited:
    """What a credit did: the updated user; whether the answer was a replay (the users service
    had applied this key before); how many attempts it took; and whether an earlier attempt
    may have reached the users service (a replay then may answer this very request)."""

    user: User
    replayed: bool
    attempts: int
    sent_before: bool

    @property
    def replayed_for_the_client(self) -> bool:
        """A replay of a request the client made before, not of this one's own lost attempt."""
        return self.replayed and not self.sent_before


@dataclass
class Attempts:
    """How a call went: how many attempts, and whether one that failed may have been served."""

    count: int = 0
    sent_before: bool = False


class UsersClient:
    """Calls ``/users/<id>`` on the users service at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        budget_s: float = 12.0,
        pool_size: int = 32,
    ) -> None:
        self.base_url = base_url
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.budget_s = budget_s
        self.session = requests.Session()
        # No retries inside urllib3: they would hide in one span. Attempts are made here.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def get_user(self, user_id: int) -> User:
        """The user as the users service returns it; ``NotFound`` if it has no such user."""
        return _as_user(_decode(self._call("GET", f"/users/{user_id}")))

    def credit(self, user_id: int, amount: int, key: bytes) -> Credited:
        """Add ``amount`` cents to the user's balance once, whatever the retries (``key``)."""
        attempts = Attempts()
        response = self._call(
            "PUT",
            f"/users/{user_id}",
            json=Credit(amount=amount).model_dump(),
            headers={KEY_HEADER: quoted(key)},
            retry_read_timeouts=True,
            attempts=attempts,
        )
        user = _as_user(_decode(response))
        replayed = response.headers.get(REPLAYED_HEADER) == "true"
        return Credited(user, replayed, attempts.count, attempts.sent_before)

    def check_health(self) -> None:
        """Raise a gateway error unless the users service answers ``/healthz`` (one attempt:
        a probe is asked again anyway, and must answer within its own short timeout)."""
        _decode(self._call("GET", "/healthz", max_attempts=1))

    def _call(
        self,
        method: str,
        path: str,
        *,
        retry_read_timeouts: bool = False,
        max_attempts: int = MAX_ATTEMPTS,
        attempts: Attempts | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """The users service's answer to the request; ``attempts`` records how it went."""
        url = self.base_url + path
        started = time.monotonic()
        went = attempts or Attempts()
        retrying = Retrying(
            stop=stop_after_attempt(max_attempts) | stop_before_delay(self.budget_s),
            wait=wait_random_exponential(multiplier=BACKOFF_S, max=BACKOFF_MAX_S),
            retry=retry_if_exception(lambda exc: _no_answer(exc, retry_read_timeouts)),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    went.count = attempt.retry_state.attempt_number
                    left = self.budget_s - (time.monotonic() - started)
                    timeout = (self.connect_timeout, max(0.05, min(self.read_timeout, left)))
                    resend = _resends.set(went.count - 1)
                    try:
                        return self.session.request(method, url, timeout=timeout, **kwargs)
                    except requests.exceptions.RequestException as exc:
                        went.sent_before = went.sent_before or _may_have_arrived(exc)
                        raise
                    finally:
                        _resends.reset(resend)
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
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


def _may_have_arrived(exc: requests.exceptions.RequestException) -> bool:
    """Whether the failed request may have been served: not when it never connected."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)


def _no_answer(exc: BaseException, read_timeouts: bool) -> bool:
    """No answer came: the request may be sent again (a read timeout only if it has a key)."""
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return read_timeouts
    return isinstance(exc, requests.exceptions.ConnectionError)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "no answer from the users service (%s); attempt %d of %d in %.2f s",
        type(error).__name__,
        state.attempt_number + 1,
        MAX_ATTEMPTS,
        state.upcoming_sleep,
    )


def record_resend(span: Span, _request: Any) -> None:
    """The requests instrumentation's request hook: a retry's span says which resend it is."""
    resends = _resends.get()
    if resends and span.is_recording():
        span.set_attribute("http.request.resend_count", resends)


def record_replay(span: Span, request: Any, response: Any) -> None:
    """The response hook: whether a keyed request's answer was a replay of an earlier one."""
    if span.is_recording() and KEY_HEADER in request.headers:
        replayed = response.headers.get(REPLAYED_HEADER) == "true"
        span.set_attribute("app.idempotency.replayed", replayed)


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
        409: RequestInProgress,
        422: Unprocessable,
        503: ServiceUnavailable,
        504: GatewayTimeout,
    }
    error_class = error_for_status.get(response.status_code, BadGateway)
    details = {k: v for k, v in body.items() if k not in ("error", "message")}
    return_code = str(body.get("error", "upstream_error"))
    raise error_class(message, code=return_code, **details)
