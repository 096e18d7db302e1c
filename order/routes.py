"""``/products`` and ``/orders``: the catalog, and orders paid from the user's balance."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from order.contract import NewOrder, Order, Product
from order.metrics import ORDERS
from order.models import PAID, OrderRecord, ProductRecord, user_balances
from order.scenarios import run_order_scenarios
from shared.app import db_session, users_client
from shared.contract import parse_body
from shared.db import rows_affected
from shared.errors import NotFound, Unprocessable
from shared.metrics import MONEY_MOVED, count_outcome
from shared.openapi import operation
from shared.spans import business_span, current_trace_id

bp = Blueprint("order", __name__)
log = logging.getLogger(__name__)


@bp.get("/products")
@operation(200, list[Product], errors=(503,))
def list_products() -> Response:
    """The catalog, cheapest first."""
    with db_session() as session:
        records = session.scalars(
            select(ProductRecord).order_by(ProductRecord.price, ProductRecord.id)
        )
        return jsonify([Product.model_validate(record).model_dump() for record in records])


@bp.post("/orders")
@operation(201, Order, body=NewOrder, errors=(400, 404, 413, 422, 502, 503, 504))
def place_order() -> tuple[Response, int, dict[str, str]]:
    """Buy one product: debit its price and record the order, in one transaction."""
    new = parse_body(NewOrder)
    user_id, product_id = new.user_id, new.product_id
    users = users_client()
    attributes = {"app.user.id": user_id, "app.product.id": product_id}
    with count_outcome(ORDERS, "placed"):
        # The HTTP hop a trace shows as order-service -> user-service; it 404s unknown users.
        users.get_user(user_id)
        with business_span("insert order", attributes) as span:
            with db_session(writes=True) as session, session.begin():
                record = _pay_and_record(session, user_id, product_id)
                span.set_attributes({"app.order.id": record.id, "app.order.price": record.price})
                placed = Order.model_validate(record)
    MONEY_MOVED.add(placed.price, {"app.flow": "order"})
    log.info("order %s placed: user %s paid %s", placed.id, user_id, placed.price)
    location = url_for("order.get_order", order_id=placed.id)
    return jsonify(placed.model_dump()), 201, {"Location": location}


@bp.get("/orders/<id:order_id>")
@operation(200, Order, errors=(404, 503))
def get_order(order_id: int) -> Response:
    """Read an order."""
    with db_session() as session:
        record = session.get(OrderRecord, order_id)
        if record is None:
            raise NotFound(f"Order {order_id} does not exist.", code="order_not_found")
        return jsonify(Order.model_validate(record).model_dump())


def _pay_and_record(session: Session, user_id: int, product_id: int) -> OrderRecord:
    """Debit the product's price and insert the order, inside the caller's transaction.

    The debit is one conditional UPDATE (``amount >= price``): the database checks and
    debits atomically, so concurrent orders can never overdraw the balance.
    """
    product = session.get(ProductRecord, product_id)
    if product is None:
        raise NotFound(f"Product {product_id} does not exist.", code="product_not_found")
    run_order_scenarios(session, user_id)
    debited = rows_affected(
        session,
        update(user_balances)
        .where(user_balances.c.id == user_id, user_balances.c.amount >= product.price)
        .values(amount=user_balances.c.amount - product.price),
    )
    if not debited:
        balance = session.scalar(
            select(user_balances.c.amount).where(user_balances.c.id == user_id)
        )
        if balance is None:
            raise NotFound(f"User {user_id} does not exist.", code="user_not_found")
        missing = product.price - balance
        raise Unprocessable(
            f"Insufficient funds: {product.name} costs {product.price} cents, "
            f"the balance is {balance}, {missing} cents short.",
            code="insufficient_funds",
            price=product.price,
            balance=balance,
            missing=missing,
        )
    order = OrderRecord(
        user_id=user_id,
        product_id=product.id,
        product_name=product.name,
        price=product.price,
        status=PAID,
        trace_id=current_trace_id(),
    )
    session.add(order)
    session.flush()
    return order
