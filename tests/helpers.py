"""Small helpers the tests share: making users, reading the database directly, opening the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine, select

from order.models import OrderRecord
from tests.stack import Stack
from users.models import UserRecord

TIMEOUT = 30
UI_TIMEOUT_MS = 20_000  # a browser step's deadline, generous for a loaded machine


@contextmanager
def page_at(browser: Browser, url: str) -> Iterator[Page]:
    """``url`` in a browser context of its own (the page's usual size, generous deadlines),
    closed afterwards."""
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(url)
        yield page
    finally:
        context.close()


def create_user(http: requests.Session, stack: Stack, balance: int = 0) -> dict[str, Any]:
    """A new user (through the API), credited ``balance`` cents (through payment)."""
    reply = http.post(
        stack.users.url + "/users",
        json={"user_name": "Test User", "account": "acc"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201, reply.text
    user: dict[str, Any] = reply.json()
    if balance:
        credited = http.put(
            f"{stack.payment.url}/payments/transfer/id/{user['id']}",
            json={"amount": balance},
            timeout=TIMEOUT,
        )
        assert credited.status_code == 200, credited.text
        user["amount"] = balance
    return user


def balance_of(db: Engine, user_id: int) -> int | None:
    with db.connect() as connection:
        return connection.scalar(select(UserRecord.balance).where(UserRecord.id == user_id))


def orders_of(db: Engine, user_id: int) -> list[tuple[int, int, str]]:
    """(product_id, price, status) of every order the user has, oldest first."""
    with db.connect() as connection:
        rows = connection.execute(
            select(OrderRecord.product_id, OrderRecord.price, OrderRecord.status)
            .where(OrderRecord.user_id == user_id)
            .order_by(OrderRecord.id)
        )
        return [(row.product_id, row.price, row.status) for row in rows]
