"""``/users``: create, read, and credit a user's balance."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import update

from shared.app import db_session
from shared.business_metrics import CREDITS, MONEY_MOVED, count_outcome
from shared.db import rows_affected
from shared.errors import NotFound, ServiceUnavailable, Unprocessable
from shared.models import ACCOUNT_MAX, USER_NAME_MAX, User
from shared.scenarios import should_reject_credit
from shared.spans import business_span
from shared.validation import AMOUNT, Text, parse_json_body

# No balance may grow past this (in cents): keeps sums far from any integer limit.
MAX_BALANCE_CENTS = 10**12

bp = Blueprint("users", __name__)
log = logging.getLogger(__name__)

NEW_USER_FIELDS = {"user_name": Text(USER_NAME_MAX), "account": Text(ACCOUNT_MAX)}
CREDIT_FIELDS = {"amount": AMOUNT}


@bp.post("/users")
def create_user() -> tuple[Response, int, dict[str, str]]:
    """Create a user with a zero balance."""
    body = parse_json_body(NEW_USER_FIELDS)
    with business_span("create user") as span:
        with db_session(writes=True) as session, session.begin():
            user = User(user_name=body["user_name"], account=body["account"], amount=0)
            session.add(user)
            session.flush()
            span.set_attribute("app.user.id", user.id)
            created = user.to_json()
    log.info("created user %s", created["id"])
    location = url_for("users.get_user", user_id=created["id"])
    return jsonify(created), 201, {"Location": location}


@bp.get("/users/<id:user_id>")
def get_user(user_id: int) -> Response:
    """Read one user."""
    with business_span("get user", {"app.user.id": user_id}) as span:
        with db_session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"User {user_id} does not exist.", code="user_not_found")
            span.set_attribute("app.user.balance", user.amount)
            return jsonify(user.to_json())


@bp.put("/users/<id:user_id>")
def credit_user(user_id: int) -> Response:
    """Add ``amount`` cents to the balance, atomically, and return the updated user."""
    amount: int = parse_json_body(CREDIT_FIELDS)["amount"]
    attributes = {"app.user.id": user_id, "app.amount": amount}
    with count_outcome(CREDITS, "applied"):
        user = _credit(user_id, amount, attributes)
    MONEY_MOVED.add(amount, {"app.flow": "transfer"})
    log.info("credited %d cents to user %d", amount, user_id)
    return jsonify(user)


def _credit(user_id: int, amount: int, attributes: dict[str, int]) -> dict[str, object]:
    """Apply the credit in one conditional UPDATE; the updated user as JSON."""
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
                update(User)
                .where(User.id == user_id, User.amount <= MAX_BALANCE_CENTS - amount)
                .values(amount=User.amount + amount),
            )
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"User {user_id} does not exist.", code="user_not_found")
            if not credited:
                raise Unprocessable(
                    f"A balance may not exceed {MAX_BALANCE_CENTS} cents.",
                    code="balance_limit_exceeded",
                    balance=user.amount,
                )
            span.set_attribute("app.user.balance", user.amount)
            return user.to_json()
