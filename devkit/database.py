"""The demo's database read directly, past the services: its row counts and the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from order.models import PAID, OrderRecord
from users.models import CreditRecord, UserRecord


def ledger_mismatches(db: Engine) -> list[tuple[int, int, int]]:
    """(user id, balance, credits - paid orders) of every user whose balance is not what the
    ledger says it is; empty when money was neither lost nor doubled."""
    credits = (
        select(CreditRecord.user_id, func.sum(CreditRecord.amount).label("total"))
        .group_by(CreditRecord.user_id)
        .subquery()
    )
    paid = (
        select(OrderRecord.user_id, func.sum(OrderRecord.price).label("total"))
        .where(OrderRecord.status == PAID)
        .group_by(OrderRecord.user_id)
        .subquery()
    )
    expected = func.coalesce(credits.c.total, 0) - func.coalesce(paid.c.total, 0)
    with db.connect() as connection:
        rows = connection.execute(
            select(UserRecord.id, UserRecord.balance, expected)
            .outerjoin(credits, credits.c.user_id == UserRecord.id)
            .outerjoin(paid, paid.c.user_id == UserRecord.id)
            .where(UserRecord.balance != expected)
        )
        return [(row[0], row[1], row[2]) for row in rows]


def snapshot(db: Engine) -> dict[str, Any]:
    """The rows (users, orders, credits) and the sum of the balances: everything a bad request
    must leave untouched, and what the soak records each minute."""
    with db.connect() as connection:
        return {
            "users": connection.scalar(select(func.count()).select_from(UserRecord)),
            "orders": connection.scalar(select(func.count()).select_from(OrderRecord)),
            "credits": connection.scalar(select(func.count()).select_from(CreditRecord)),
            "total_balance": connection.scalar(
                select(func.coalesce(func.sum(UserRecord.balance), 0))
            ),
        }
