"""The credit ledger: each applied credit is one row, written with the balance it raised."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine, select, update

from users.models import CreditRecord, UserRecord
from users.routes import MAX_BALANCE_CENTS


def credits(database: Engine) -> list[tuple[int, int, str]]:
    with database.connect() as connection:
        rows = connection.execute(
            select(CreditRecord.user_id, CreditRecord.amount, CreditRecord.source).order_by(
                CreditRecord.id
            )
        )
        return [(row.user_id, row.amount, row.source) for row in rows]


def test_each_applied_credit_is_one_ledger_row(users: FlaskClient, database: Engine) -> None:
    user = users.post("/users", json={"user_name": "Ann", "account": "a"}).json
    assert user is not None
    for amount in (100, 250):
        assert users.put(f"/users/{user['id']}", json={"amount": amount}).status_code == 200
    assert credits(database) == [(user["id"], 100, "credit"), (user["id"], 250, "credit")]
    assert users.get(f"/users/{user['id']}").json["amount"] == 350  # type: ignore[index]


def test_a_refused_credit_writes_no_ledger_row(users: FlaskClient, database: Engine) -> None:
    user = users.post("/users", json={"user_name": "Bob", "account": "b"}).json
    assert user is not None
    with database.begin() as connection:  # a balance just under the limit
        connection.execute(
            update(UserRecord)
            .where(UserRecord.id == user["id"])
            .values(balance=MAX_BALANCE_CENTS - 10)
        )
    assert users.put("/users/999", json={"amount": 100}).status_code == 404
    assert users.put(f"/users/{user['id']}", json={"amount": 0}).status_code == 400
    over = users.put(f"/users/{user['id']}", json={"amount": 100})
    assert over.status_code == 422 and over.json["error"] == "balance_limit_exceeded"  # type: ignore[index]
    assert credits(database) == []
