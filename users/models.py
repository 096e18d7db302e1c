"""The table the users service owns: users and their balances."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, Cents

USER_NAME_MAX = 64
ACCOUNT_MAX = 64


class UserRecord(Base):
    """A customer and the balance, in cents, they can spend (never below zero)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="ck_users_amount_not_negative"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(Cents, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(USER_NAME_MAX))
    account: Mapped[str] = mapped_column(String(ACCOUNT_MAX))
    # The column keeps the Go sample's name, `amount`; in Python it is what it holds.
    balance: Mapped[int] = mapped_column("amount", Cents, default=0)
