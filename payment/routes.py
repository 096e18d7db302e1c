"""``/payments``: transfer funds to a user (a credit on the users service)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from shared.app import users_client
from shared.spans import business_span
from shared.validation import AMOUNT, parse_json_body

bp = Blueprint("payment", __name__)
log = logging.getLogger(__name__)


@bp.put("/payments/transfer/id/<id:user_id>")
def transfer(user_id: int) -> Response:
    """Credit ``amount`` cents to the user; the users service applies it atomically."""
    amount: int = parse_json_body({"amount": AMOUNT})["amount"]
    users = users_client()
    with business_span("transfer funds", {"app.user.id": user_id, "app.amount": amount}) as span:
        user = users.credit(user_id, amount)
        span.set_attribute("app.user.balance", user["amount"])
    log.info("transferred %d to user %d", amount, user_id)
    return jsonify(user_id=user_id, amount=amount, balance=user["amount"])
