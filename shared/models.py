"""The one schema the three services share: users, products and orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Balances and prices are integer cents; BIGINT keeps large balances exact.
Cents = BigInteger().with_variant(Integer(), "sqlite")

USER_NAME_MAX = 64
ACCOUNT_MAX = 64


class Base(DeclarativeBase):
    """Declarative base for every table of the demo."""


class User(Base):
    """A customer and the balance, in cents, they can spend."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="ck_users_amount_not_negative"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(Cents, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(USER_NAME_MAX))
    account: Mapped[str] = mapped_column(String(ACCOUNT_MAX))
    amount: Mapped[int] = mapped_column(Cents, default=0)


class Product(Base):
    """An item of the catalog the order service sells; the price is never the client's."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price > 0", name="ck_products_price_positive"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    price: Mapped[int] = mapped_column(Cents)


class Order(Base):
    """A paid order: written in the same transaction as the debit it records."""

    __tablename__ = "orders"
    __table_args__ = {"mysql_charset": "utf8mb4"}

    id: Mapped[int] = mapped_column(Cents, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(128))
    price: Mapped[int] = mapped_column(Cents)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


# (id, name, price in cents): the catalog init-db writes once.
SEED_PRODUCTS: tuple[tuple[int, str, int], ...] = (
    (1, "Coffee mug", 1200),
    (2, "T-shirt", 2500),
    (3, "Hoodie", 4900),
    (4, "Mechanical keyboard", 12900),
    (5, "Standing desk", 49900),
)
