"""The tables the users service owns: users and their balances, and the credit ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, Cents, Id, IdempotencyKey

USER_NAME_MAX = 64
ACCOUNT_MAX = 64


class UserRecord(Base):
    """A customer and the balance, in cents, they can spend (never below zero)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="ck_users_amount_not_negative"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(USER_NAME_MAX))
    account: Mapped[str] = mapped_column(String(ACCOUNT_MAX))
    # The column keeps the Go sample's name, `amount`; in Python it is what it holds.
    balance: Mapped[int] = mapped_column("amount", Cents, default=0)


class CreditRecord(Base):
    """One applied credit, written in the same transaction as the balance it raised.

    A balance always equals its user's credits minus their paid orders.
    """

    __tablename__ = "credits"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_credits_amount_positive"),
        Index("ix_credits_user_id_id", "user_id", "id"),
        # A key is scoped to its user: the same key on another user's credit is another credit.
        Index("uq_credits_user_id_idempotency_key", "user_id", "idempotency_key", unique=True),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(Cents)
    # "credit" (PUT /users/<id>), or "opening" (the balance a user had before the ledger).
    source: Mapped[str] = mapped_column(String(16))
    # The trace of the request that made it: the way from a ledger row to its story.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    # The client's Idempotency-Key, and the balance this credit left: what a retry is answered.
    idempotency_key: Mapped[bytes | None] = mapped_column(IdempotencyKey)
    balance_after: Mapped[int | None] = mapped_column(Cents)
