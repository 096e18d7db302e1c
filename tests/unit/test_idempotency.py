"""Idempotency keys on the writes that move money: a repeat is answered, never applied again.

The users and order apps through Flask's test client on one SQLite file; the order service
reaches the users service over a real socket (werkzeug's server, in a thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, update
from werkzeug.serving import make_server

from order.models import OrderRecord
from tests.unit.conftest import MakeApp
from users.models import CreditRecord, UserRecord
from users.routes import MAX_BALANCE_CENTS

KEY = "Idempotency-Key"


@pytest.fixture
def user(users: FlaskClient) -> int:
    created = users.post("/users", json={"user_name": "Ann", "account": "a"}).json
    assert created is not None
    return int(created["id"])


@pytest.fixture
def order_service(make_app: MakeApp) -> Iterator[FlaskClient]:
    """The order service's test client, its users service a real one on a local port."""
    server = make_server("127.0.0.1", 0, make_app("users"), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield make_app("order", USER_URL=f"http://127.0.0.1:{server.server_port}").test_client()
    finally:
        server.shutdown()


def count(database: Engine, table: Any) -> int:
    with database.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def credit(users: FlaskClient, user: int, amount: int, key: str | None) -> Any:
    headers = {KEY: key} if key is not None else {}
    return users.put(f"/users/{user}", json={"amount": amount}, headers=headers)


def test_the_same_credit_twice_is_applied_once_and_replayed(
    users: FlaskClient, user: int, database: Engine
) -> None:
    first = credit(users, user, 100, '"k-123"')
    again = credit(users, user, 100, '"k-123"')
    assert (first.status_code, again.status_code) == (200, 200)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (
        again.json == first.json == {"id": user, "user_name": "Ann", "account": "a", "amount": 100}
    )
    assert users.get(f"/users/{user}").json["amount"] == 100  # type: ignore[index]
    assert count(database, CreditRecord) == 1


def test_a_replay_answers_what_the_first_credit_answered(users: FlaskClient, user: int) -> None:
    assert credit(users, user, 100, "k-1").json["amount"] == 100
    assert credit(users, user, 50, "k-2").json["amount"] == 150
    replay = credit(users, user, 100, "k-1")
    assert replay.json["amount"] == 100  # the balance that credit left, not today's
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_a_bare_key_is_the_same_key_as_its_quoted_form(users: FlaskClient, user: int) -> None:
    assert credit(users, user, 100, "k-123").status_code == 200
    assert credit(users, user, 100, '"k-123"').headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(("first", "second"), [('"k"', '"K"'), ('"k"', '"k "'), ('"k"', '" k"')])
def test_keys_compare_exactly(users: FlaskClient, user: int, first: str, second: str) -> None:
    assert credit(users, user, 100, first).status_code == 200
    assert "Idempotent-Replayed" not in credit(users, user, 100, second).headers
    assert users.get(f"/users/{user}").json["amount"] == 200  # type: ignore[index]


def test_the_same_key_with_another_amount_is_refused_and_writes_nothing(
    users: FlaskClient, user: int, database: Engine
) -> None:
    assert credit(users, user, 100, "k-1").status_code == 200
    reused = credit(users, user, 999, "k-1")
    assert reused.status_code == 422
    assert reused.json["error"] == "idempotency_key_reused"
    assert count(database, CreditRecord) == 1
    assert users.get(f"/users/{user}").json["amount"] == 100  # type: ignore[index]


def test_a_key_is_scoped_to_its_user(users: FlaskClient, user: int) -> None:
    other = users.post("/users", json={"user_name": "Bob", "account": "b"}).json["id"]  # type: ignore[index]
    assert credit(users, user, 100, "k-1").status_code == 200
    assert "Idempotent-Replayed" not in credit(users, other, 100, "k-1").headers
    assert users.get(f"/users/{other}").json["amount"] == 100  # type: ignore[index]


def test_a_refused_credit_records_no_key_so_a_retry_is_decided_afresh(
    users: FlaskClient, user: int, database: Engine
) -> None:
    with database.begin() as connection:  # a balance at the limit: any credit is refused
        connection.execute(
            update(UserRecord).where(UserRecord.id == user).values(balance=MAX_BALANCE_CENTS)
        )
    refused = credit(users, user, 100, "k-1")
    assert refused.status_code == 422, refused.json
    with database.begin() as connection:
        connection.execute(update(UserRecord).where(UserRecord.id == user).values(balance=0))
    retried = credit(users, user, 100, "k-1")
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers  # applied now, not a replay
    assert retried.json["amount"] == 100
    assert count(database, CreditRecord) == 1


@pytest.mark.parametrize(
    "key",
    [
        "",
        '""',
        "x" * 256,
        '"' + "x" * 256 + '"',
        '"unterminated',
        '"k";param=1',
        '"tab\there"',
        '"caf\u00e9"',
        "caf\u00e9",
        '"back\\slash"',
    ],
)
def test_a_malformed_key_is_400_and_writes_nothing(
    users: FlaskClient, user: int, database: Engine, key: str
) -> None:
    answer = credit(users, user, 100, key)
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_idempotency_key"
    assert count(database, CreditRecord) == 0


@pytest.mark.parametrize("key", ["x" * 255, '"' + "~" * 255 + '"', '"with \\"quotes\\" "', "a b"])
def test_the_longest_and_oddest_good_keys_work(users: FlaskClient, user: int, key: str) -> None:
    assert credit(users, user, 100, key).status_code == 200
    assert credit(users, user, 100, key).headers["Idempotent-Replayed"] == "true"


def test_the_same_order_twice_is_paid_once_and_replayed(
    order_service: FlaskClient, users: FlaskClient, user: int, database: Engine
) -> None:
    credit(users, user, 10_000, None)
    body = {"user_id": user, "product_id": 1}
    first = order_service.post("/orders", json=body, headers={KEY: '"o-1"'})
    again = order_service.post("/orders", json=body, headers={KEY: "o-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(database, OrderRecord) == 1
    assert users.get(f"/users/{user}").json["amount"] == 10_000 - 1200  # type: ignore[index]


def test_the_same_order_key_for_another_product_is_refused(
    order_service: FlaskClient, users: FlaskClient, user: int, database: Engine
) -> None:
    credit(users, user, 10_000, None)
    assert (
        order_service.post(
            "/orders", json={"user_id": user, "product_id": 1}, headers={KEY: "o-1"}
        ).status_code
        == 201
    )
    reused = order_service.post(
        "/orders", json={"user_id": user, "product_id": 2}, headers={KEY: "o-1"}
    )
    assert reused.status_code == 422
    assert reused.json["error"] == "idempotency_key_reused"  # type: ignore[index]
    assert count(database, OrderRecord) == 1


def test_an_order_refused_for_funds_can_be_retried_with_its_key(
    order_service: FlaskClient, users: FlaskClient, user: int
) -> None:
    body = {"user_id": user, "product_id": 1}
    refused = order_service.post("/orders", json=body, headers={KEY: "o-1"})
    assert refused.status_code == 422 and refused.json["error"] == "insufficient_funds"  # type: ignore[index]
    credit(users, user, 1200, None)
    placed = order_service.post("/orders", json=body, headers={KEY: "o-1"})
    assert placed.status_code == 201
    assert "Idempotent-Replayed" not in placed.headers


def test_credits_are_listed_newest_first_a_page_at_a_time(users: FlaskClient, user: int) -> None:
    for amount in (1, 2, 3, 4, 5):
        credit(users, user, amount, None)
    first = users.get(f"/users/{user}/credits?limit=2").json
    assert first is not None
    assert [c["amount"] for c in first["credits"]] == [5, 4]
    assert all(c["source"] == "credit" and c["created_at"] for c in first["credits"])
    second = users.get(f"/users/{user}/credits?limit=2&cursor={first['next_cursor']}").json
    assert second is not None
    third = users.get(f"/users/{user}/credits?limit=2&cursor={second['next_cursor']}").json
    assert third is not None
    assert [c["amount"] for c in second["credits"] + third["credits"]] == [3, 2, 1]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "cursor=0", "cursor=-1", "other=1"]
)
def test_a_bad_page_is_400(users: FlaskClient, user: int, query: str) -> None:
    answer = users.get(f"/users/{user}/credits?{query}")
    assert answer.status_code == 400, answer.json
    assert answer.json["error"] in ("invalid_field", "unknown_field")  # type: ignore[index]


def test_the_credits_of_an_unknown_user_are_404(users: FlaskClient) -> None:
    assert users.get("/users/999999/credits").status_code == 404


def test_orders_are_listed_newest_first_with_their_trace(
    order_service: FlaskClient, users: FlaskClient, user: int
) -> None:
    credit(users, user, 10_000, None)
    for product in (1, 2):
        order_service.post("/orders", json={"user_id": user, "product_id": product})
    listed = order_service.get(f"/orders?user_id={user}").json
    assert listed is not None
    assert [o["product_id"] for o in listed["orders"]] == [2, 1]
    assert listed["next_cursor"] is None
    assert order_service.get("/orders").status_code == 400  # whose orders?


@pytest.mark.parametrize(
    ("service", "path", "method"),
    [
        ("users", "/users/{user_id}", "put"),
        ("payment", "/payments/transfer/id/{user_id}", "put"),
        ("order", "/orders", "post"),
    ],
)
def test_the_documents_list_the_key_the_replay_and_the_new_statuses(
    make_app: MakeApp, service: str, path: str, method: str
) -> None:
    document = make_app(service).test_client().get("/openapi.json").json
    assert document is not None
    operation = document["paths"][path][method]
    assert KEY in [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    success = next(r for status, r in operation["responses"].items() if status.startswith("2"))
    assert "Idempotent-Replayed" in success["headers"]
    assert {"400", "409", "422"} <= set(operation["responses"])


def test_the_listings_document_their_query(make_app: MakeApp) -> None:
    document = make_app("order").test_client().get("/openapi.json").json
    assert document is not None
    parameters = document["paths"]["/orders"]["get"]["parameters"]
    assert {(p["name"], p["required"]) for p in parameters} == {
        ("user_id", True),
        ("limit", False),
        ("cursor", False),
    }
