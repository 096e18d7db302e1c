"""``/users``: create, read, and credit a user's balance."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import update

from shared.app import db_session
from shared.contract import Credit, User, parse_body
from shared.db import rows_affected
from shared.errors import NotFound, ServiceUnavailable, Unprocessable
from shared.metrics import MONEY_MOVED, count_outcome
from shared.openapi import operation
from shared.spans import business_span, current_trace_id
from users.contract import NewUser
from users.metrics import CREDITS
from users.models import CreditRecord, UserRecord
from users.scenarios import should_reject_credit

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


@bp.put("/users/<id:user_id>")
@operation(200, User, body=Credit, errors=(400, 404, 413, 422, 503))
def credit_user(user_id: int) -> Response:
    """Credit the user's balance by amount cents, atomically."""
    amount = parse_body(Credit).amount
    attributes = {"app.user.id": user_id, "app.amount": amount}
    with count_outcome(CREDITS, "applied"):
        user = _credit(user_id, amount, attributes)
    MONEY_MOVED.add(amount, {"app.flow": "transfer"})
    log.info("credited %d cents to user %d", amount, user_id)
    return jsonify(user.model_dump())


def _credit(user_id: int, amount: int, attributes: dict[str, int]) -> User:
    """Apply the credit in one conditional UPDATE and record it in the ledger; the updated user."""
    with business_span("update user amount", attributes) as span:
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
            # (less the orders paid from it).
            session.add(
                CreditRecord(
                    user_id=user_id, amount=amount, source="credit", trace_id=current_trace_id()
                )
            )
            span.set_attribute("app.user.balance", record.balance)
            return User.model_validate(record, by_name=True)
