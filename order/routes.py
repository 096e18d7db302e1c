"""``/products`` and ``/orders``: the catalog, and orders paid from the user's balance."""

from __future__ import annotations

import logging
from functools import partial

from flask import Blueprint, Response, jsonify, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from order.contract import NewOrder, Order, OrdersPage, OrdersQuery, PastOrder, Product
from order.metrics import ORDERS
from order.models import PAID, OrderRecord, ProductRecord, user_balances
from order.scenarios import run_order_scenarios
from shared.app import db_session, users_client
from shared.contract import parse_body, parse_query
from shared.db import newest_first, rows_affected
from shared.errors import NotFound, Unprocessable
from shared.idempotency import apply_once, idempotency_key, mark_replayed
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
@operation(
    201, Order, body=NewOrder, errors=(400, 404, 409, 413, 422, 502, 503, 504), idempotent=True
)
def place_order() -> tuple[Response, int, dict[str, str]]:
    """Buy one product: debit its price and record the order, in one transaction, once per key.

    With an ``Idempotency-Key`` (``shared.idempotency.apply_once``), the same order again is
    answered with the order placed then (``Idempotent-Replayed: true``) and paid nothing; the
    key with another product is refused (422 ``idempotency_key_reused``); a repeat that arrives
    while the first is still in its transaction waits for it, then is that replay (409
    ``request_in_progress`` if the first holds the user's row past the lock wait).
    """
    new = parse_body(NewOrder)
    key = idempotency_key()
    user_id, product_id = new.user_id, new.product_id
    with count_outcome(ORDERS) as counted:
        placed, replayed = apply_once(
            key,
            recorded=partial(_recorded_order, user_id),
            same_request=partial(_is_same_order, product_id),
            apply=partial(_place, user_id, product_id, key),
        )
        counted.outcome = "replayed" if replayed else "placed"
    if replayed:
        log.info("order %s replayed (idempotency key)", placed.id)
    else:
        MONEY_MOVED.add(placed.price, {"app.flow": "order"})
        log.info("order %s placed: user %s paid %s", placed.id, user_id, placed.price)
    location = url_for("order.get_order", order_id=placed.id)
    response = mark_replayed(jsonify(placed.model_dump()), replayed)
    return response, 201, {"Location": location}


@bp.get("/orders")
@operation(200, OrdersPage, query=OrdersQuery, errors=(400, 503))
def list_orders() -> Response:
    """A user's orders, newest first."""
    page = parse_query(OrdersQuery)
    with db_session() as session:
        orders, cursor = newest_first(
            session,
            select(OrderRecord).where(OrderRecord.user_id == page.user_id),
            OrderRecord.id,
            limit=page.limit,
            cursor=page.cursor,
        )
        listed = [PastOrder.model_validate(order) for order in orders]
    return jsonify(OrdersPage(orders=listed, next_cursor=cursor).model_dump(mode="json"))


@bp.get("/orders/<id:order_id>")
@operation(200, Order, errors=(404, 503))
def get_order(order_id: int) -> Response:
    """Read an order."""
    with db_session() as session:
        record = session.get(OrderRecord, order_id)
        if record is None:
            raise NotFound(f"Order {order_id} does not exist.", code="order_not_found")
        return jsonify(Order.model_validate(record).model_dump())


def _recorded_order(user_id: int, key: bytes) -> Order | None:
    """The order this user placed earlier with ``key``, if any."""
    with db_session() as session:
        record = session.scalars(
            select(OrderRecord).where(
                OrderRecord.user_id == user_id, OrderRecord.idempotency_key == key
            )
        ).one_or_none()
        return None if record is None else Order.model_validate(record)


def _is_same_order(product_id: int, earlier: Order) -> bool:
    """Whether an order of ``product_id`` repeats the ``earlier`` one (its key's first use)."""
    return earlier.product_id == product_id


def _place(user_id: int, product_id: int, key: bytes | None) -> Order:
    """Check the user with the users service, then pay and record the order in one transaction."""
    # The HTTP hop a trace shows as order-service -> user-service; it 404s unknown users.
    users_client().get_user(user_id)
    attributes = {"app.user.id": user_id, "app.product.id": product_id}
    with business_span("insert order", attributes) as span:
        with db_session(writes=True) as session, session.begin():
            record = _pay_and_record(session, user_id, product_id, key)
            span.set_attributes({"app.order.id": record.id, "app.order.price": record.price})
            return Order.model_validate(record)


def _pay_and_record(
    session: Session, user_id: int, product_id: int, key: bytes | None
) -> OrderRecord:
    """Debit the product's price and insert the order, inside the caller's transaction.

    The debit is one conditional UPDATE (``balance >= price``): the database checks and
    debits atomically, so concurrent orders can never overdraw the balance.
    """
    product = session.get(ProductRecord, product_id)
    if product is None:
        raise NotFound(f"Product {product_id} does not exist.", code="product_not_found")
    run_order_scenarios(session, user_id)
    debited = rows_affected(
        session,
        update(user_balances)
        .where(user_balances.c.id == user_id, user_balances.c.balance >= product.price)
        .values(balance=user_balances.c.balance - product.price),
    )
    if not debited:
        # A locking read: MySQL's plain read would show this transaction's snapshot, older
        # than the balance the debit just found too small.
        balance = session.scalar(
            select(user_balances.c.balance).where(user_balances.c.id == user_id).with_for_update()
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
        # Unique per user: a twin request that got here second fails on it and rolls back.
        idempotency_key=key,
    )
    session.add(order)
    session.flush()
    return order
