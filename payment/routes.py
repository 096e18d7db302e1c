"""``/payments``: transfer funds to a user (a credit on the users service)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from payment.contract import NewTransfer, Transfer
from shared.app import users_client
from shared.contract import parse_body
from shared.openapi import operation
from shared.spans import business_span

bp = Blueprint("payment", __name__)
log = logging.getLogger(__name__)


@bp.put("/payments/transfer/id/<id:user_id>")
@operation(200, Transfer, body=NewTransfer, errors=(400, 404, 413, 422, 502, 503, 504))
def transfer(user_id: int) -> Response:
    """Transfer amount cents to the user (a credit on the users service)."""
    amount = parse_body(NewTransfer).amount
    users = users_client()
    with business_span("transfer funds", {"app.user.id": user_id, "app.amount": amount}) as span:
        user = users.credit(user_id, amount)
        span.set_attribute("app.user.balance", user.balance)
    log.info("transferred %d to user %d", amount, user_id)
    return jsonify(Transfer(user_id=user_id, amount=amount, balance=user.balance).model_dump())
