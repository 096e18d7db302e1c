"""``/payments``: transfer funds to a user (a credit on the users service)."""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, Response, jsonify

from payment.contract import NewTransfer, Transfer
from shared.app import users_client
from shared.contract import parse_body
from shared.idempotency import idempotency_key, mark_replayed
from shared.openapi import operation
from shared.spans import business_span

bp = Blueprint("payment", __name__)
log = logging.getLogger(__name__)


@bp.put("/payments/transfer/id/<id:user_id>")
@operation(
    200,
    Transfer,
    body=NewTransfer,
    errors=(400, 404, 409, 413, 422, 502, 503, 504),
    idempotent=True,
)
def transfer(user_id: int) -> Response:
    """Transfer amount cents to the user (a credit on the users service), once per key."""
    amount = parse_body(NewTransfer).amount
    client_key = idempotency_key()
    # The client's key goes on to the users service; without one, this transfer gets its own,
    # so that this service's retries of the credit are safe too.
    key = client_key or f"transfer-{uuid.uuid4()}".encode("ascii")
    attributes = {
        "app.user.id": user_id,
        "app.amount": amount,
        "app.idempotency.key_from": "client" if client_key else "payment-service",
    }
    with business_span("transfer funds", attributes) as span:
        credited = users_client().credit(user_id, amount, key)
        # A replay of the client's earlier request with this key, not of this request's own
        # attempt whose answer was lost on the way.
        replayed = credited.replayed_for_the_client
        span.set_attributes(
            {
                "app.user.balance": credited.user.balance,
                "app.attempts": credited.attempts,
                "app.idempotency.replayed": replayed,
            }
        )
    log.info(
        "transferred %d to user %d (%d attempt(s)%s)",
        amount,
        user_id,
        credited.attempts,
        ", replayed" if replayed else "",
    )
    answer = Transfer(user_id=user_id, amount=amount, balance=credited.user.balance)
    return mark_replayed(jsonify(answer.model_dump()), replayed)
