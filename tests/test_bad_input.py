"""Every client mistake gets a clear 4xx JSON error, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from devkit.database import snapshot
from tests.helpers import TIMEOUT, create_user
from tests.stack import Stack

# Bad input on both databases: what each accepts and refuses differs.
pytestmark = pytest.mark.both_databases

TRANSFER = "/payments/transfer/id/{uid}"
DEEP_JSON = b"[" * 5000 + b"]" * 5000
# (service, method, path, body, status, error code); a bytes body is sent raw, anything else as JSON
CASES: list[tuple[str, str, str, Any, int, str]] = [
    ("users", "POST", "/users", b'{"user_name": "x",', 400, "invalid_json"),
    ("users", "POST", "/users", b"", 400, "invalid_json"),
    ("users", "POST", "/users", [], 400, "invalid_json"),
    ("users", "POST", "/users", "just a string", 400, "invalid_json"),
    ("users", "POST", "/users", DEEP_JSON, 400, "invalid_json"),
    ("users", "POST", "/users", b"\xff\xfe not utf-8", 400, "invalid_json"),
    ("users", "POST", "/users", {"user_name": "a"}, 400, "missing_field"),
    (
        "users",
        "POST",
        "/users",
        {"user_name": "a", "account": "b", "amount": 9},
        400,
        "unknown_field",
    ),
    ("users", "POST", "/users", {"user_name": 7, "account": "b"}, 400, "invalid_field"),
    ("users", "POST", "/users", {"user_name": None, "account": "b"}, 400, "invalid_field"),
    ("users", "POST", "/users", {"user_name": "   ", "account": "b"}, 400, "invalid_field"),
    ("users", "POST", "/users", {"user_name": "x" * 65, "account": "b"}, 400, "invalid_field"),
    ("users", "POST", "/users", {"user_name": "a\x00b", "account": "b"}, 400, "invalid_field"),
    ("users", "POST", "/users", {"user_name": "a\x7fb", "account": "b"}, 400, "invalid_field"),
    # A lone surrogate is no Unicode text: the JSON parser refuses it.
    ("users", "POST", "/users", b'{"user_name": "a\\ud800", "account": "b"}', 400, "invalid_json"),
    (
        "users",
        "POST",
        "/users",
        {"user_name": "a", "account": "b" * 20_000},
        413,
        "request_entity_too_large",
    ),
    ("users", "PUT", "/users/{uid}", {"amount": 0}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": -500}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": 10**15}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": 10**40}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": "100"}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": 1.5}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": True}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": None}, 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", b'{"amount": NaN}', 400, "invalid_field"),
    ("users", "PUT", "/users/{uid}", {"amount": 5, "note": "x"}, 400, "unknown_field"),
    ("users", "PUT", "/users/987654321", {"amount": 5}, 404, "user_not_found"),
    ("users", "GET", "/users/abc", None, 404, "not_found"),
    ("users", "GET", "/users/0", None, 404, "not_found"),
    ("users", "GET", "/users/-1", None, 404, "not_found"),
    ("users", "GET", "/users/" + "9" * 30, None, 404, "not_found"),
    ("users", "DELETE", "/users/{uid}", None, 405, "method_not_allowed"),
    ("users", "GET", "/no/such/route", None, 404, "not_found"),
    ("payment", "PUT", TRANSFER, {"amount": -1}, 400, "invalid_field"),
    ("payment", "PUT", TRANSFER, {"amount": 0}, 400, "invalid_field"),
    ("payment", "PUT", TRANSFER, {"amount": 2_000_000_000}, 400, "invalid_field"),
    ("payment", "PUT", TRANSFER, {}, 400, "missing_field"),
    ("payment", "PUT", TRANSFER, b"not json", 400, "invalid_json"),
    ("payment", "PUT", "/payments/transfer/id/987654321", {"amount": 5}, 404, "user_not_found"),
    ("payment", "PUT", "/payments/transfer/id/abc", {"amount": 5}, 404, "not_found"),
    ("payment", "GET", TRANSFER, None, 405, "method_not_allowed"),
    ("payment", "POST", TRANSFER, {"amount": 5}, 405, "method_not_allowed"),
    ("order", "POST", "/orders", {"user_id": "{uid}", "product_id": "1"}, 400, "invalid_field"),
    ("order", "POST", "/orders", {"user_id": 0, "product_id": 1}, 400, "invalid_field"),
    ("order", "POST", "/orders", {"user_id": "{uid}"}, 400, "missing_field"),
    (
        "order",
        "POST",
        "/orders",
        {"user_id": "{uid}", "product_id": 1, "price": 1},
        400,
        "unknown_field",
    ),
    (
        "order",
        "POST",
        "/orders",
        {"user_id": "{uid}", "product_id": 424242},
        404,
        "product_not_found",
    ),
    ("order", "POST", "/orders", {"user_id": 987654321, "product_id": 1}, 404, "user_not_found"),
    ("order", "POST", "/orders", b"{}}", 400, "invalid_json"),
    ("order", "GET", "/orders", None, 400, "missing_field"),
    ("order", "GET", "/orders?user_id=0", None, 400, "invalid_field"),
    ("order", "GET", "/orders?user_id={uid}&limit=1000", None, 400, "invalid_field"),
    ("order", "GET", "/orders?user_id={uid}&cursor=x", None, 400, "invalid_field"),
    ("order", "DELETE", "/orders", None, 405, "method_not_allowed"),
    ("users", "GET", "/users/{uid}/credits?limit=0", None, 400, "invalid_field"),
    ("users", "GET", "/users/{uid}/credits?page=2", None, 400, "unknown_field"),
    ("users", "GET", "/users/987654321/credits", None, 404, "user_not_found"),
    ("order", "DELETE", "/products", None, 405, "method_not_allowed"),
    ("order", "GET", "/orders/987654321", None, 404, "order_not_found"),
]


def _fill(value: Any, uid: int) -> Any:
    """Put the test user's id where a case says ``{uid}``."""
    if isinstance(value, str):
        return uid if value == "{uid}" else value.replace("{uid}", str(uid))
    if isinstance(value, dict):
        return {key: _fill(item, uid) for key, item in value.items()}
    return value


def send(
    http: requests.Session,
    stack: Stack,
    user_id: int,
    case: tuple[str, str, str, Any],
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """Send a case's ``(service, method, path, body)`` for the test user."""
    service, method, path, body = case
    url = getattr(stack, service).url + _fill(path, user_id)
    if isinstance(body, bytes):
        data = body
    elif body is None:
        data = None
    else:
        data = json.dumps(_fill(body, user_id)).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    return http.request(method, url, data=data, headers=headers, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "status", "error"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[4]}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_input_is_a_clear_json_4xx_and_writes_nothing(
    stack: Stack,
    http: requests.Session,
    db: Engine,
    service: str,
    method: str,
    path: str,
    body: Any,
    status: int,
    error: str,
) -> None:
    user = create_user(http, stack, balance=10_000)
    before = snapshot(db)
    reply = send(http, stack, user["id"], (service, method, path, body))

    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    payload = reply.json()
    assert payload["error"] == error
    assert isinstance(payload["message"], str) and payload["message"]
    assert snapshot(db) == before


# The three writes that move money, each with a good body, and the keys they must refuse.
MONEY_WRITES = [
    ("users", "PUT", "/users/{uid}", {"amount": 5}),
    ("payment", "PUT", TRANSFER, {"amount": 5}),
    ("order", "POST", "/orders", {"user_id": "{uid}", "product_id": 1}),
]
BAD_KEYS = ['""', "x" * 256, '"unterminated', '"k";p=1', '"tab\there"', '"back\\slash"']


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("write", MONEY_WRITES, ids=lambda write: f"{write[0]}-{write[1]}")
def test_a_bad_idempotency_key_is_400_and_writes_nothing(
    stack: Stack,
    http: requests.Session,
    db: Engine,
    write: tuple[str, str, str, Any],
    key: str,
) -> None:
    user = create_user(http, stack, balance=10_000)
    before = snapshot(db)
    reply = send(http, stack, user["id"], write, {"Idempotency-Key": key})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] == "invalid_idempotency_key"
    assert snapshot(db) == before


@pytest.mark.parametrize("write", MONEY_WRITES, ids=lambda write: f"{write[0]}-{write[1]}")
def test_a_key_reused_for_another_body_is_422_and_writes_nothing(
    stack: Stack, http: requests.Session, db: Engine, write: tuple[str, str, str, Any]
) -> None:
    user = create_user(http, stack, balance=10_000)
    key = {"Idempotency-Key": '"reused"'}
    first = send(http, stack, user["id"], write, key)
    assert first.status_code in (200, 201), first.text
    before = snapshot(db)
    service, method, path, body = write
    other = {**body, **({"product_id": 2} if "product_id" in body else {"amount": 6})}
    reply = send(http, stack, user["id"], (service, method, path, other), key)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "idempotency_key_reused"
    assert snapshot(db) == before
