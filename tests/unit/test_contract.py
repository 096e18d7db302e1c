"""The contract: strict bodies, errors that name the field, /openapi.json from the models."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import BaseModel

from order.contract import NewOrder, Order, Product
from payment.contract import NewTransfer, Transfer
from shared.contract import MAX_AMOUNT_CENTS, Credit, User
from tests.unit.conftest import MakeApp
from users.contract import NewUser

# (JSON body sent to PUT /users/1, error code, field named) for the strict Credit model
CREDIT_CASES: list[tuple[Any, str, str | None]] = [
    ({"amount": "100"}, "invalid_field", "amount"),
    ({"amount": 1.5}, "invalid_field", "amount"),
    ({"amount": 100.0}, "invalid_field", "amount"),
    ({"amount": True}, "invalid_field", "amount"),
    ({"amount": None}, "invalid_field", "amount"),
    ({"amount": 0}, "invalid_field", "amount"),
    ({"amount": MAX_AMOUNT_CENTS + 1}, "invalid_field", "amount"),
    ({"amount": 10**40}, "invalid_field", "amount"),
    ({}, "missing_field", "amount"),
    ({"amount": 5, "note": "x"}, "unknown_field", "note"),
    ([5], "invalid_json", None),
    ("5", "invalid_json", None),
]
NEW_USER_CASES: list[tuple[Any, str, str]] = [
    ({"user_name": "   ", "account": "a"}, "invalid_field", "user_name"),
    ({"user_name": "a", "account": "x" * 65}, "invalid_field", "account"),
    ({"user_name": "a\x00b", "account": "a"}, "invalid_field", "user_name"),
    ({"user_name": "a\x7fb", "account": "a"}, "invalid_field", "user_name"),
    ({"user_name": 7, "account": "a"}, "invalid_field", "user_name"),
    ({"user_name": "a"}, "missing_field", "account"),
]


@pytest.fixture
def user_id(users: FlaskClient) -> int:
    reply = users.post("/users", json={"user_name": "Ann", "account": "a-1"})
    assert reply.status_code == 201, reply.json
    created: int = reply.json["id"]  # type: ignore[index]
    return created


@pytest.mark.parametrize(("body", "code", "field"), CREDIT_CASES)
def test_a_credit_body_is_strict(
    users: FlaskClient, user_id: int, body: Any, code: str, field: str | None
) -> None:
    reply = users.put(f"/users/{user_id}", json=body)
    assert reply.status_code == 400
    assert reply.json is not None
    assert reply.json["error"] == code
    assert reply.json.get("field") == field
    if field:
        assert f"'{field}'" in reply.json["message"]
    assert users.get(f"/users/{user_id}").json == {
        "id": user_id,
        "user_name": "Ann",
        "account": "a-1",
        "amount": 0,
    }


@pytest.mark.parametrize(("body", "code", "field"), NEW_USER_CASES)
def test_a_new_user_body_is_strict(users: FlaskClient, body: Any, code: str, field: str) -> None:
    reply = users.post("/users", json=body)
    assert reply.status_code == 400
    assert reply.json is not None
    assert (reply.json["error"], reply.json["field"]) == (code, field)
    assert users.get("/users/1").status_code == 404  # nothing was written


@pytest.mark.parametrize(
    "raw", [b"", b'{"amount": 5', b"\xff\xfe", b'{"amount": NaN}', b"[" * 5000 + b"]" * 5000]
)
def test_bodies_that_are_not_a_json_object_are_400(
    users: FlaskClient, user_id: int, raw: bytes
) -> None:
    reply = users.put(f"/users/{user_id}", data=raw, content_type="application/json")
    assert reply.status_code == 400
    assert reply.json is not None and reply.json["error"] in {"invalid_json", "invalid_field"}


@pytest.mark.parametrize("name", [" Bob", "Bob ", "Bob\t", "\u00a0Bob"])
def test_surrounding_spaces_are_refused_as_the_schema_says(users: FlaskClient, name: str) -> None:
    reply = users.post("/users", json={"user_name": name, "account": "b-2"})
    assert reply.status_code == 400
    assert reply.json is not None and reply.json["field"] == "user_name"
    assert "control characters or surrounding spaces" in reply.json["message"]
    assert "^" not in reply.json["message"]  # a sentence, not the regex


def test_inner_spaces_and_any_script_are_text(users: FlaskClient) -> None:
    reply = users.post("/users", json={"user_name": "Zoë van Dijk", "account": "账户 7"})
    assert reply.status_code == 201
    assert reply.json is not None and reply.json["user_name"] == "Zoë van Dijk"


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "answer", "status"),
    [
        ("users", "post", "/users", NewUser, User, "201"),
        ("users", "put", "/users/{user_id}", Credit, User, "200"),
        ("users", "get", "/users/{user_id}", None, User, "200"),
        ("payment", "put", "/payments/transfer/id/{user_id}", NewTransfer, Transfer, "200"),
        ("order", "post", "/orders", NewOrder, Order, "201"),
        ("order", "get", "/orders/{order_id}", None, Order, "200"),
        ("order", "get", "/products", None, None, "200"),
    ],
)
def test_openapi_schemas_are_the_models(
    make_app: MakeApp,
    service: str,
    method: str,
    path: str,
    body: type[BaseModel] | None,
    answer: type[BaseModel] | None,
    status: str,
) -> None:
    document = make_app(service).test_client().get("/openapi.json").json
    assert document is not None
    schemas = document["components"]["schemas"]
    operation = document["paths"][path][method]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return resolved

    if body is not None:
        sent = operation["requestBody"]["content"]["application/json"]["schema"]
        assert resolve(sent) == body.model_json_schema()
    answered = operation["responses"][status]["content"]["application/json"]["schema"]
    if answer is not None:
        assert resolve(answered) == answer.model_json_schema(mode="serialization")
    for code, response in operation["responses"].items():
        if code.startswith(("4", "5")):
            assert resolve(response["content"]["application/json"]["schema"]) == schemas["Error"]


def test_every_route_is_documented(make_app: MakeApp) -> None:
    for service in ("users", "payment", "order"):
        app = make_app(service)
        document = app.test_client().get("/openapi.json").json
        assert document is not None
        undocumented = {
            rule.rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint not in {"static", "openapi"}
            and rule.rule.replace("<id:", "{").replace(">", "}") not in document["paths"]
        }
        assert not undocumented, (service, undocumented)


def test_the_catalog_answers_in_the_product_model(make_app: MakeApp) -> None:
    products = make_app("order").test_client().get("/products").json
    assert isinstance(products, list) and products
    prices = [Product.model_validate(product).price for product in products]
    assert prices == sorted(prices)
