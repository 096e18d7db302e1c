"""The API's happy paths and contracts, against the real services on both databases."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from order.models import SEED_PRODUCTS
from tests.conftest import run_init_db
from tests.helpers import TIMEOUT, balance_of, create_user, orders_of
from tests.stack import ServiceProcess, Stack, base_env

# The API on both databases: their SQL, types and errors differ.
pytestmark = pytest.mark.both_databases


def test_create_get_and_credit_a_user(stack: Stack, http: requests.Session, db: Engine) -> None:
    created = http.post(
        stack.users.url + "/users",
        json={"user_name": "Ada Lovelace", "account": "ACC-42"},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201
    user = created.json()
    assert user == {"id": user["id"], "user_name": "Ada Lovelace", "account": "ACC-42", "amount": 0}
    assert created.headers["Location"] == f"/users/{user['id']}"

    fetched = http.get(f"{stack.users.url}/users/{user['id']}", timeout=TIMEOUT)
    assert fetched.status_code == 200 and fetched.json() == user

    credited = http.put(
        f"{stack.users.url}/users/{user['id']}", json={"amount": 250}, timeout=TIMEOUT
    )
    assert credited.status_code == 200
    assert credited.json()["amount"] == 250
    assert balance_of(db, user["id"]) == 250


def test_names_in_any_script_round_trip(stack: Stack, http: requests.Session) -> None:
    name, account = "Zoë Ωmega 李 🙂", "ÇA-ßé-№1"
    created = http.post(
        stack.users.url + "/users", json={"user_name": name, "account": account}, timeout=TIMEOUT
    )
    assert created.status_code == 201, created.text
    fetched = http.get(f"{stack.users.url}/users/{created.json()['id']}", timeout=TIMEOUT).json()
    assert (fetched["user_name"], fetched["account"]) == (name, account)


def test_reads_do_not_wait_for_a_sqlite_writer(tmp_path: Path) -> None:
    """WAL lets reads run beside a writer: only writing transactions take the write lock."""
    url = f"sqlite:///{tmp_path / 'wal.sqlite3'}"
    assert run_init_db(url).returncode == 0
    users = ServiceProcess("users", base_env(DATABASE_URL=url), tmp_path / "users.log").start()
    users.wait_ready()
    try:
        user = requests.post(
            users.url + "/users", json={"user_name": "R", "account": "r"}, timeout=TIMEOUT
        ).json()
        holder = sqlite3.connect(tmp_path / "wal.sqlite3", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        try:
            started = time.monotonic()
            read = requests.get(f"{users.url}/users/{user['id']}", timeout=TIMEOUT)
            ready = requests.get(users.url + "/readyz", timeout=TIMEOUT)
            assert read.status_code == 200 and ready.status_code == 200
            assert time.monotonic() - started < 5, "reads waited for the writer"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    finally:
        users.stop()


def test_transfer_credits_through_the_users_service(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    user = create_user(http, stack, balance=1000)
    reply = http.put(
        f"{stack.payment.url}/payments/transfer/id/{user['id']}",
        json={"amount": 505},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200
    assert reply.json() == {"user_id": user["id"], "amount": 505, "balance": 1505}
    assert balance_of(db, user["id"]) == 1505


def test_catalog_lists_seeded_products_cheapest_first(stack: Stack, http: requests.Session) -> None:
    reply = http.get(stack.order.url + "/products", timeout=TIMEOUT)
    assert reply.status_code == 200
    # Exactly the seeded catalog, prices in integer cents, cheapest first (the database's CHECK
    # already keeps prices positive, so only the exact list says the API reports them right).
    cheapest_first = sorted(SEED_PRODUCTS, key=lambda row: (row[2], row[0]))
    expected = [{"id": id_, "name": name, "price": price} for id_, name, price in cheapest_first]
    products = reply.json()
    assert products == expected
    assert all(type(product["price"]) is int for product in products)  # 2500.0 == 2500 too


def test_order_debits_the_catalog_price_and_records_the_order(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    product = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()[1]
    user = create_user(http, stack, balance=product["price"] + 7)

    reply = http.post(
        stack.order.url + "/orders",
        json={"user_id": user["id"], "product_id": product["id"]},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201, reply.text
    order = reply.json()
    assert order == {
        "id": order["id"],
        "user_id": user["id"],
        "product_id": product["id"],
        "product_name": product["name"],
        "price": product["price"],
        "status": "PAID",
    }
    assert balance_of(db, user["id"]) == 7
    assert orders_of(db, user["id"]) == [(product["id"], product["price"], "PAID")]
    location = http.get(stack.order.url + reply.headers["Location"], timeout=TIMEOUT)
    assert location.status_code == 200 and location.json() == order


def test_insufficient_funds_is_422_with_the_missing_amount_and_changes_nothing(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    product = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()[0]
    user = create_user(http, stack, balance=product["price"] - 1)

    reply = http.post(
        stack.order.url + "/orders",
        json={"user_id": user["id"], "product_id": product["id"]},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "insufficient_funds"
    assert body["missing"] == 1 and body["balance"] == product["price"] - 1
    assert "1 cents short" in body["message"]
    assert balance_of(db, user["id"]) == product["price"] - 1
    assert orders_of(db, user["id"]) == []


def test_unknown_user_or_product_is_404(stack: Stack, http: requests.Session, db: Engine) -> None:
    user = create_user(http, stack, balance=100_000)
    unknown_user = http.post(
        stack.order.url + "/orders", json={"user_id": 999_999_999, "product_id": 1}, timeout=TIMEOUT
    )
    assert unknown_user.status_code == 404
    assert unknown_user.json()["error"] == "user_not_found"

    unknown_product = http.post(
        stack.order.url + "/orders",
        json={"user_id": user["id"], "product_id": 999_999},
        timeout=TIMEOUT,
    )
    assert unknown_product.status_code == 404
    assert unknown_product.json()["error"] == "product_not_found"
    assert balance_of(db, user["id"]) == 100_000

    transfer = http.put(
        f"{stack.payment.url}/payments/transfer/id/999999999", json={"amount": 5}, timeout=TIMEOUT
    )
    assert transfer.status_code == 404
    assert transfer.json()["error"] == "user_not_found"


def test_health_and_readiness(stack: Stack, http: requests.Session) -> None:
    for service in stack.services:
        health = http.get(service.url + "/healthz", timeout=TIMEOUT)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = http.get(service.url + "/readyz", timeout=TIMEOUT)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert set(http.get(stack.order.url + "/readyz", timeout=TIMEOUT).json()["checks"]) == {
        "database",
        "users-service",
    }
    assert set(http.get(stack.payment.url + "/readyz", timeout=TIMEOUT).json()["checks"]) == {
        "users-service"
    }


def test_cors_only_for_configured_origins(stack: Stack, http: requests.Session) -> None:
    allowed = "http://localhost:5000"
    preflight = http.options(
        stack.order.url + "/orders",
        headers={
            "Origin": allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,traceparent",
        },
        timeout=TIMEOUT,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == allowed
    assert "traceparent" in preflight.headers["Access-Control-Allow-Headers"]

    reply = http.get(stack.order.url + "/products", headers={"Origin": allowed}, timeout=TIMEOUT)
    assert reply.headers["Access-Control-Allow-Origin"] == allowed
    assert "traceresponse" in reply.headers["Access-Control-Expose-Headers"]

    foreign = http.get(
        stack.order.url + "/products", headers={"Origin": "https://evil.example"}, timeout=TIMEOUT
    )
    assert "Access-Control-Allow-Origin" not in foreign.headers
