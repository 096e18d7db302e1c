"""``/users``: create, read, and credit a user's balance; list the credits of its ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import select, update

from shared.app import db_session
from shared.contract import Credit, PageQuery, User, parse_body, parse_query
from shared.db import newest_first, rows_affected
from shared.errors import NotFound, ServiceUnavailable, Unprocessable
from shared.idempotency import apply_once, idempotency_key, mark_replayed
from shared.metrics import MONEY_MOVED, count_outcome
from shared.openapi import operation
from shared.spans import business_span, current_trace_id
from users.contract import CreditsPage, LedgerCredit, NewUser
from users.metrics import CREDITS
from users.models import CreditRecord, UserRecord
from users.scenarios import delay_answer_if_lost_response, should_reject_credit

# No balance may grow past this (in cents): keeps sums far from any integer limit.
MAX_BALANCE_CENTS = 10**12

bp = Blueprint("users", __name__)
log = logging.getLogger(__name__)


@bp.post("/users")
@operation(201, User, body=NewUser, errors=(400, 413, 503))
def create_user() -> tuple[Response, int, dict[str, str]]:
    """Create a user with a zero balance."""
    new = parse_body(NewUser)
    with business_span("create user") as span:
        with db_session(writes=True) as session, session.begin():
            record = UserRecord(user_name=new.user_name, account=new.account, balance=0)
            session.add(record)
            session.flush()
            span.set_attribute("app.user.id", record.id)
            created = User.model_validate(record, by_name=True)
    log.info("created user %s", created.id)
    location = url_for("users.get_user", user_id=created.id)
    return jsonify(created.model_dump()), 201, {"Location": location}


@bp.get("/users/<id:user_id>")
@operation(200, User, errors=(404, 503))
def get_user(user_id: int) -> Response:
    """Read a user."""
    with business_span("get user", {"app.user.id": user_id}) as span:
        with db_session() as session:
            record = session.get(UserRecord, user_id)
            if record is None:
                raise NotFound(f"User {user_id} does not exist.", code="user_not_found")
            span.set_attribute("app.user.balance", record.balance)
            return jsonify(User.model_validate(record, by_name=True).model_dump())


@bp.get("/users/<id:user_id>/credits")
@operation(200, CreditsPage, query=PageQuery, errors=(400, 404, 503))
def list_credits(user_id: int) -> Response:
    """A user's credits, newest first (the ledger that explains the balance)."""
    page = parse_query(PageQuery)
    with db_session() as session:
        if session.get(UserRecord, user_id) is None:
            raise NotFound(f"User {user_id} does not exist.", code="user_not_found")
        credits, cursor = newest_first(
            session,
            select(CreditRecord).where(CreditRecord.user_id == user_id),
            CreditRecord.id,
            limit=page.limit,
            cursor=page.cursor,
        )
        listed = [LedgerCredit.model_validate(credit) for credit in credits]
    return jsonify(CreditsPage(credits=listed, next_cursor=cursor).model_dump(mode="json"))


@bp.put("/users/<id:user_id>")
@operation(200, User, body=Credit, errors=(400, 404, 409, 413, 422, 503), idempotent=True)
def credit_user(user_id: int) -> Response:
    """Credit the user's balance by amount cents, atomically, once per idempotency key.

    With an ``Idempotency-Key`` (``shared.idempotency.apply_once``), the same credit again is
    answered with what the first one did (the balance it left, ``Idempotent-Replayed: true``)
    and credits nothing; the key with another amount is refused (422
    ``idempotency_key_reused``); a repeat that arrives while the first is still in its
    transaction waits for it, then is that replay (409 ``request_in_progress`` if the first
    holds the user's row past the lock wait).
    """
    amount = parse_body(Credit).amount
    key = idempotency_key()
    attributes = {"app.user.id": user_id, "app.amount": amount}
    with count_outcome(CREDITS) as counted:
        with business_span("update user amount", attributes) as span:
            credited, replayed = apply_once(
                key,
                recorded=partial(_recorded_credit, user_id),
                same_request=partial(_is_same_credit, amount),
                apply=partial(_credit, user_id, amount, key),
            )
            counted.outcome = "replayed" if replayed else "applied"
            span.set_attribute("app.user.balance", credited.user.balance)
            if key is not None:
                span.set_attribute("app.idempotency.replayed", replayed)
    if replayed:
        log.info("credit of %d cents to user %d replayed (idempotency key)", amount, user_id)
    else:
        MONEY_MOVED.add(amount, {"app.flow": "transfer"})
        log.info("credited %d cents to user %d", amount, user_id)
        delay_answer_if_lost_response()
    return mark_replayed(jsonify(credited.user.model_dump()), replayed)


@dataclass(frozen=True)
class AppliedCredit:
    """A credit as it was applied: its amount, and the user it left (what a replay answers)."""

    amount: int
    user: User


def _recorded_credit(user_id: int, key: bytes) -> AppliedCredit | None:
    """The credit applied earlier to this user with ``key``, if any."""
    with db_session() as session:
        found = session.execute(
            select(CreditRecord, UserRecord)
            .join(UserRecord, UserRecord.id == CreditRecord.user_id)
            .where(CreditRecord.user_id == user_id, CreditRecord.idempotency_key == key)
        ).one_or_none()
        if found is None:
            return None
        credit, user = found
        answered = User.model_validate(
            {
                "id": user.id,
                "user_name": user.user_name,
                "account": user.account,
                "balance": credit.balance_after,  # the balance the credit left, then
            },
            by_name=True,
        )
        return AppliedCredit(amount=credit.amount, user=answered)


def _is_same_credit(amount: int, earlier: AppliedCredit) -> bool:
    """Whether a credit of ``amount`` repeats the ``earlier`` one (its key's first use)."""
    return earlier.amount == amount


def _credit(user_id: int, amount: int, key: bytes | None) -> AppliedCredit:
    """Apply the credit in one conditional UPDATE and record it in the ledger, with ``key``."""
    if should_reject_credit():
        raise ServiceUnavailable(
            "The ledger rejected this credit (scenario payment-failure); nothing was written.",
            code="credit_rejected",
        )
    with db_session(writes=True) as session, session.begin():
        # One conditional UPDATE: concurrent credits add up and none is lost.
        credited = rows_affected(
            session,
            update(UserRecord)
            .where(UserRecord.id == user_id, UserRecord.balance <= MAX_BALANCE_CENTS - amount)
            .values(balance=UserRecord.balance + amount),
        )
        record = session.get(UserRecord, user_id)
        if record is None:
            raise NotFound(f"User {user_id} does not exist.", code="user_not_found")
        if not credited:
            raise Unprocessable(
                f"A balance may not exceed {MAX_BALANCE_CENTS} cents.",
                code="balance_limit_exceeded",
                balance=record.balance,
            )
        # The ledger's row, in the same transaction: the balance is the sum of its credits
        # (less the orders paid from it). Its key is unique per user: a twin request that got
        # here second fails on it and rolls back (shared.idempotency.apply_once).
        session.add(
            CreditRecord(
                user_id=user_id,
                amount=amount,
                source="credit",
                trace_id=current_trace_id(),
                idempotency_key=key,
                balance_after=record.balance,
            )
        )
        session.flush()
        return AppliedCredit(amount=amount, user=User.model_validate(record, by_name=True))
