"""Money under concurrency: no overdraft, no lost credit, every order debited exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import Engine

from tests.helpers import TIMEOUT, balance_of, create_user, orders_of
from tests.stack import Stack

# Every test here moves money: afterwards, the ledger explains every balance.
# Concurrency on both databases: they lock differently.
pytestmark = [
    pytest.mark.both_databases,
    pytest.mark.usefixtures("balances_match_the_ledger"),
]

CONCURRENT_ORDERS = 60
AFFORDABLE = 7


def order_status(stack: Stack, user_id: int, product_id: int) -> int:
    """Place one order on a connection of its own; return the HTTP status."""
    with requests.Session() as session:
        return session.post(
            stack.order.url + "/orders",
            json={"user_id": user_id, "product_id": product_id},
            timeout=60,
        ).status_code


def transfer_status(stack: Stack, user_id: int, amount: int) -> int:
    """Transfer ``amount`` on a connection of its own; return the HTTP status."""
    with requests.Session() as session:
        return session.put(
            f"{stack.payment.url}/payments/transfer/id/{user_id}",
            json={"amount": amount},
            timeout=60,
        ).status_code


def test_concurrent_orders_never_overdraw_and_each_success_is_debited_once(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    product = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()[0]
    price = product["price"]
    leftover = price // 2
    user = create_user(http, stack, balance=AFFORDABLE * price + leftover)

    with ThreadPoolExecutor(max_workers=CONCURRENT_ORDERS) as pool:
        statuses = list(
            pool.map(
                lambda _: order_status(stack, user["id"], product["id"]), range(CONCURRENT_ORDERS)
            )
        )

    assert statuses.count(201) == AFFORDABLE, statuses
    assert statuses.count(422) == CONCURRENT_ORDERS - AFFORDABLE, statuses
    assert balance_of(db, user["id"]) == leftover
    assert orders_of(db, user["id"]) == [(product["id"], price, "PAID")] * AFFORDABLE


def test_concurrent_transfers_lose_no_credit(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    user = create_user(http, stack)
    amounts = [100 + i for i in range(50)]

    with ThreadPoolExecutor(max_workers=len(amounts)) as pool:
        statuses = list(
            pool.map(lambda amount: transfer_status(stack, user["id"], amount), amounts)
        )

    assert statuses == [200] * len(amounts)
    assert balance_of(db, user["id"]) == sum(amounts)


def test_concurrent_orders_and_transfers_conserve_money(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    """Credits and debits racing on one row: final balance = credits - sum of recorded orders."""
    product = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()[0]
    user = create_user(http, stack, balance=product["price"] * 3)
    credits = [product["price"]] * 20

    with ThreadPoolExecutor(max_workers=60) as pool:
        order_results = [
            pool.submit(order_status, stack, user["id"], product["id"]) for _ in range(40)
        ]
        credit_results = [
            pool.submit(transfer_status, stack, user["id"], amount) for amount in credits
        ]
        statuses = [f.result() for f in order_results]
        assert [f.result() for f in credit_results] == [200] * len(credits)

    assert set(statuses) <= {201, 422}
    paid = statuses.count(201)
    # At least the three orders the starting balance covers, at most what all the money covers.
    assert 3 <= paid <= 3 + len(credits), statuses
    assert orders_of(db, user["id"]) == [(product["id"], product["price"], "PAID")] * paid
    # What the clients were told, not what the database holds, decides the balance.
    assert balance_of(db, user["id"]) == product["price"] * (3 - paid) + sum(credits)
