"""``/products`` and ``/orders``: the catalog, and orders paid from the user's balance."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from order.scenarios import run_order_scenarios
from shared.app import db_session, users_client
from shared.business_metrics import MONEY_MOVED, ORDERS, count_outcome
from shared.contract import NewOrder, Order, Product, parse_body
from shared.db import rows_affected
from shared.errors import NotFound, Unprocessable
from shared.models import Order as OrderRow
from shared.models import Product as ProductRow
from shared.models import User as UserRow
from shared.openapi import operation
from shared.spans import business_span

bp = Blueprint("order", __name__)
log = logging.getLogger(__name__)

PAID = "PAID"


@bp.get("/products")
@operation(200, list[Product])
def list_products() -> Response:
    """The catalog, cheapest first."""
    with db_session() as session:
        rows = session.scalars(select(ProductRow).order_by(ProductRow.price, ProductRow.id))
        return jsonify([Product.model_validate(row).model_dump() for row in rows])


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
                row = _pay_and_record(session, user_id, product_id)
                span.set_attributes({"app.order.id": row.id, "app.order.price": row.price})
                placed = Order.model_validate(row)
    MONEY_MOVED.add(placed.price, {"app.flow": "order"})
    log.info("order %s placed: user %s paid %s", placed.id, user_id, placed.price)
    location = url_for("order.get_order", order_id=placed.id)
    return jsonify(placed.model_dump()), 201, {"Location": location}


@bp.get("/orders/<id:order_id>")
@operation(200, Order, errors=(404,))
def get_order(order_id: int) -> Response:
    """Read an order."""
    with db_session() as session:
        row = session.get(OrderRow, order_id)
        if row is None:
            raise NotFound(f"Order {order_id} does not exist.", code="order_not_found")
        return jsonify(Order.model_validate(row).model_dump())


def _pay_and_record(session: Session, user_id: int, product_id: int) -> OrderRow:
    """Debit the product's price and insert the order, inside the caller's transaction.

    The debit is one conditional UPDATE (``amount >= price``): the database checks and
    debits atomically, so concurrent orders can never overdraw the balance.
    """
    product = session.get(ProductRow, product_id)
    if product is None:
        raise NotFound(f"Product {product_id} does not exist.", code="product_not_found")
    run_order_scenarios(session, user_id)
    debited = rows_affected(
        session,
        update(UserRow)
        .where(UserRow.id == user_id, UserRow.amount >= product.price)
        .values(amount=UserRow.amount - product.price),
    )
    if not debited:
        balance = session.scalar(select(UserRow.amount).where(UserRow.id == user_id))
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
    order = OrderRow(
        user_id=user_id,
        product_id=product.id,
        product_name=product.name,
        price=product.price,
        status=PAID,
    )
    session.add(order)
    session.flush()
    return order
