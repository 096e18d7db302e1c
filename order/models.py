"""The tables the order service owns (the catalog and the orders), and the one it debits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, Cents, Id, IdempotencyKey

PAID = "PAID"

# The users table belongs to the users service; an order debits it in its own transaction, as
# in the Go sample. A Core table of just the columns the debit needs, on a MetaData of its own:
# no second ORM class, nothing more for init-db to create, no import of `users/`. Its column
# keeps the Go sample's name, `amount`; in Python it is what it holds, `balance`.
user_balances = Table(
    "users",
    MetaData(),
    Column("id", Id, primary_key=True),
    Column("amount", Cents, key="balance"),
)


class ProductRecord(Base):
    """An item of the catalog; the price is never the client's."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price > 0", name="ck_products_price_positive"),
        {"mysql_charset": "utf8mb4"},
    )

    # Numbered by hand (SEED_PRODUCTS), and INTEGER since the first release: not an `Id`.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    price: Mapped[int] = mapped_column(Cents)


class OrderRecord(Base):
    """A paid order: written in the same transaction as the debit it records."""

    __tablename__ = "orders"
    __table_args__ = (
        # A key is scoped to the user who orders: another user's order is another order.
        Index("uq_orders_user_id_idempotency_key", "user_id", "idempotency_key", unique=True),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # A user of the users service: init-db, which knows both tables, adds the foreign key.
    user_id: Mapped[int] = mapped_column(Id, index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(128))
    price: Mapped[int] = mapped_column(Cents)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    # The trace of the request that placed it, and the client's Idempotency-Key.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[bytes | None] = mapped_column(IdempotencyKey)


# (id, name, price in cents): the catalog init-db writes once.
SEED_PRODUCTS: tuple[tuple[int, str, int], ...] = (
    (1, "Coffee mug", 1200),
    (2, "T-shirt", 2500),
    (3, "Hoodie", 4900),
    (4, "Mechanical keyboard", 12900),
    (5, "Standing desk", 49900),
)
