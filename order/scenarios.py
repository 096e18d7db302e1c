"""The order service's part of the scenarios: a slow statement and a held row lock."""

from __future__ import annotations

from sqlalchemy import TextClause, select, text
from sqlalchemy.orm import Session

from order.models import user_balances
from shared.scenarios import Scenario, app_settings, is_active
from shared.spans import business_span


def slow_statement(seconds: float) -> TextClause:
    """A statement that takes ``seconds`` inside the database (SQLite gets ``sleep`` from
    ``shared.db``)."""
    return text("SELECT sleep(:seconds)").bindparams(seconds=seconds)


def run_order_scenarios(session: Session, user_id: int) -> None:
    """``lock-contention`` and ``slow-db``, inside the order's transaction, before the debit."""
    settings = app_settings()
    if is_active(Scenario.LOCK_CONTENTION):
        _lock_user_row_and_hold_it(session, user_id, settings.scenario_lock_hold_ms / 1000)
    if is_active(Scenario.SLOW_DB):
        session.execute(slow_statement(settings.scenario_slow_db_ms / 1000))


def _lock_user_row_and_hold_it(session: Session, user_id: int, hold_s: float) -> None:
    """``lock-contention``: take the user's row lock first and keep it a while.

    Concurrent orders for the same user then wait for the lock one after the other: on MySQL
    in ``SELECT ... FOR UPDATE``, on SQLite (one writer at a time) in ``BEGIN IMMEDIATE``.
    """
    with business_span("lock user row", {"app.user.id": user_id}):
        session.execute(
            select(user_balances.c.id).where(user_balances.c.id == user_id).with_for_update()
        )
        session.execute(slow_statement(hold_s))
