"""The first release's schema: users, the product catalog and orders.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

Cents = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("price", Cents, nullable=False),
        sa.CheckConstraint("price > 0", name="ck_products_price_positive"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "users",
        sa.Column("id", Cents, primary_key=True, autoincrement=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("amount", Cents, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_users_amount_not_negative"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "orders",
        sa.Column("id", Cents, primary_key=True, autoincrement=True),
        sa.Column("user_id", Cents, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("product_name", sa.String(128), nullable=False),
        sa.Column("price", Cents, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("users")
    op.drop_table("products")
