"""Idempotency keys: a write that moves money, sent again, is answered again, not applied again.

The client names each write with ``Idempotency-Key: "k-123"`` (the IETF HTTPAPI draft "The
Idempotency-Key HTTP Header Field"; Stripe's API does the same). A key is scoped to the write
and its target (credits to user N, orders of user N) and is stored, with what the write did, in
the same transaction as its effect, on the row it protects: a credit of the ledger, an order.
So only a write that committed has a key; a refusal or a failure records nothing, and a retry
of it is decided afresh.

- same key, same body, already done: the recorded answer, with ``Idempotent-Replayed: true``;
- same key, another body: 422 ``idempotency_key_reused``;
- same key while the first is still in its transaction: the database serialises the two (the
  write locks the user's row, the key is unique), so the second waits, then replays; a wait
  past ``IDEMPOTENCY_WAIT_SECONDS`` (MySQL's lock wait) is 409 ``request_in_progress``.

Keys live as long as the rows they protect: a production system would expire them and publish
when (Stripe keeps them 24 hours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import http_sf
from flask import Response, request
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.errors import ApiError, BadRequest, Unprocessable

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# MySQL's and MariaDB's "Lock wait timeout exceeded".
MYSQL_LOCK_WAIT_TIMEOUT = 1205

Recorded = TypeVar("Recorded")


class RequestInProgress(ApiError):
    """A write with this key (or another on the same row) still holds the lock past the bound."""

    status = 409
    code = "request_in_progress"


def idempotency_key() -> bytes | None:
    """The request's key (``None`` without the header); a malformed one is a 400.

    The draft's form is a quoted string (``"k-123"``); a bare value (``k-123``, what one types
    with curl) is the same key. Either way: 1 to 255 characters of printable ASCII, compared
    exactly (the column is binary on every database).
    """
    raw = request.headers.get(KEY_HEADER)
    if raw is None:
        return None
    key = _unquoted(raw)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise _invalid_key()
    return key.encode("ascii")


def quoted(key: bytes) -> str:
    """``key`` as the header's value: the draft's quoted string."""
    return http_sf.ser(key.decode("ascii"))


def _unquoted(raw: str) -> str:
    if not raw.startswith('"'):
        return raw
    try:
        item = http_sf.parse(raw.encode("latin-1"), tltype="item")
    except (http_sf.StructuredFieldError, UnicodeEncodeError):
        raise _invalid_key() from None
    value, parameters = cast(tuple[object, dict[str, object]], item)
    if not isinstance(value, str) or parameters:
        raise _invalid_key()
    return value


def _invalid_key() -> BadRequest:
    return BadRequest(
        f"{KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, "
        'as a quoted string ("k-123") or bare (k-123).',
        code="invalid_idempotency_key",
    )


def apply_once(
    key: bytes | None,
    *,
    recorded: Callable[[bytes], Recorded | None],
    same_request: Callable[[Recorded], bool],
    apply: Callable[[], Recorded],
) -> tuple[Recorded, bool]:
    """Apply a write once per key: ``(what it did, whether this answer is a replay)``.

    ``recorded(key)`` reads what a committed write with ``key`` did (``None``: not done yet);
    ``apply()`` runs the write's transaction, storing ``key`` on its row under a unique index.
    Without a key every call applies.
    """
    if key is not None and (done := recorded(key)) is not None:
        return _replay(done, same_request), True
    try:
        return apply(), False
    except IntegrityError:
        # The twin committed first: its row holds the key. (Without a key, or with no row for
        # it, the violation is something else: raise it.)
        if key is None or (done := recorded(key)) is None:
            raise
        return _replay(done, same_request), True
    except ApiError as exc:
        # A twin that waited for the first one's row lock checks the business rules after its
        # commit, and may be refused (the balance it spent, a limit it reached): the first's
        # answer is this request's answer too.
        if key is None or exc.outcome != "refused" or (done := recorded(key)) is None:
            raise
        return _replay(done, same_request), True
    except OperationalError as exc:
        if key is not None and _is_lock_wait_timeout(exc):
            raise RequestInProgress(
                "Another write on this user, perhaps the first request with this key, still "
                "holds its row; nothing was written. Retry later with the same key.",
            ) from None
        raise


def _replay(done: Recorded, same_request: Callable[[Recorded], bool]) -> Recorded:
    if not same_request(done):
        raise Unprocessable(
            f"This {KEY_HEADER} was already used for a different request; "
            "nothing was written. Use a new key for a new request.",
            code="idempotency_key_reused",
        )
    return done


def _is_lock_wait_timeout(exc: OperationalError) -> bool:
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == MYSQL_LOCK_WAIT_TIMEOUT


def mark_replayed(response: Response, replayed: bool) -> Response:
    """Say, on a replayed answer, that it was recorded earlier (``Idempotent-Replayed: true``)."""
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response
