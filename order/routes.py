"""``/products`` and ``/orders``: the catalog, and orders paid from the user's balance."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.app import db_session, users_client
from shared.business_metrics import MONEY_MOVED, ORDERS, count_outcome
from shared.db import rows_affected, slow_statement
from shared.errors import NotFound, Unprocessable
from shared.models import Order, Product, User
from shared.scenarios import Scenario, is_active, scenario_settings
from shared.spans import business_span
from shared.validation import ID, parse_json_body

bp = Blueprint("order", __name__)
log = logging.getLogger(__name__)

ORDER_FIELDS = {"user_id": ID, "product_id": ID}
PAID = "PAID"


@bp.get("/products")
def list_products() -> Response:
    """The catalog, cheapest first."""
    with db_session() as session:
        products = session.scalars(select(Product).order_by(Product.price, Product.id))
        return jsonify([product.to_json() for product in products])


@bp.post("/orders")
def place_order() -> tuple[Response, int, dict[str, str]]:
    """Buy one product for a user: debit the price and record the order in one transaction."""
    body = parse_json_body(ORDER_FIELDS)
    user_id, product_id = body["user_id"], body["product_id"]
    users = users_client()
    attributes = {"app.user.id": user_id, "app.product.id": product_id}
    with count_outcome(ORDERS, "placed"):
        # The HTTP hop a trace shows as order-service -> user-service; it 404s unknown users.
        users.get_user(user_id)
        with business_span("insert order", attributes) as span:
            with db_session(writes=True) as session, session.begin():
                order = _pay_and_record(session, user_id, product_id)
                span.set_attributes({"app.order.id": order.id, "app.order.price": order.price})
                placed, price = order.to_json(), order.price
    MONEY_MOVED.add(price, {"app.flow": "order"})
    log.info("order %s placed: user %s paid %s", placed["id"], user_id, price)
    return jsonify(placed), 201, {"Location": url_for("order.get_order", order_id=placed["id"])}


@bp.get("/orders/<id:order_id>")
def get_order(order_id: int) -> Response:
    """Read one order."""
    with db_session() as session:
        order = session.get(Order, order_id)
        if order is None:
            raise NotFound(f"Order {order_id} does not exist.", code="order_not_found")
        return jsonify(order.to_json())


def _pay_and_record(session: Session, user_id: int, product_id: int) -> Order:
    """Debit the product's price and insert the order, inside the caller's transaction.

    The debit is one conditional UPDATE (``amount >= price``): the database checks and
    debits atomically, so concurrent orders can never overdraw the balance.
    """
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"Product {product_id} does not exist.", code="product_not_found")
    if is_active(Scenario.LOCK_CONTENTION):
        _lock_user_row_and_hold_it(session, user_id)
    if is_active(Scenario.SLOW_DB):
        session.execute(slow_statement(scenario_settings().slow_db_ms / 1000))
    debited = rows_affected(
        session,
        update(User)
        .where(User.id == user_id, User.amount >= product.price)
        .values(amount=User.amount - product.price),
    )
    if not debited:
        balance = session.scalar(select(User.amount).where(User.id == user_id))
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
    order = Order(
        user_id=user_id,
        product_id=product.id,
        product_name=product.name,
        price=product.price,
        status=PAID,
    )
    session.add(order)
    session.flush()
    return order


def _lock_user_row_and_hold_it(session: Session, user_id: int) -> None:
    """``lock-contention``: take the user's row lock first and keep it a while.

    Concurrent orders for the same user then wait for the lock one after the other: on MySQL
    in ``SELECT ... FOR UPDATE``, on SQLite (one writer at a time) in ``BEGIN IMMEDIATE``.
    """
    with business_span("lock user row", {"app.user.id": user_id}):
        session.execute(select(User.id).where(User.id == user_id).with_for_update())
        session.execute(slow_statement(scenario_settings().lock_hold_ms / 1000))
