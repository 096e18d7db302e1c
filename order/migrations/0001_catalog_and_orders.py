"""The first release's catalog and orders; an order's user is a row of the users table.

Revision ID: order_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "order_0001"
down_revision = None
branch_labels = ("order",)
depends_on = "users_0001"

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
    op.drop_table("products")
