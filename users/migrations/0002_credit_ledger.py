"""A credit ledger: every applied credit is a row, with the trace of the request that made it.

Each existing user gets one opening-balance credit (the balance plus what they paid for their
orders), so from the first moment a balance equals its credits minus its paid orders: the one
rule that spans both services' tables, hence the dependency on the orders table.

Revision ID: users_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "users_0002"
down_revision = "users_0001"
depends_on = "order_0001"

Cents = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPENING_BALANCES = """
INSERT INTO credits (user_id, amount, source)
SELECT id, opening, 'opening' FROM (
    SELECT users.id AS id, users.amount + COALESCE(
        (SELECT SUM(orders.price) FROM orders
         WHERE orders.user_id = users.id AND orders.status = 'PAID'), 0) AS opening
    FROM users
) AS balances
WHERE opening > 0
"""


def upgrade() -> None:
    op.create_table(
        "credits",
        sa.Column("id", Cents, primary_key=True, autoincrement=True),
        sa.Column("user_id", Cents, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", Cents, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_credits_amount_positive"),
        sa.Index("ix_credits_user_id_id", "user_id", "id"),
        mysql_charset="utf8mb4",
    )
    op.execute(OPENING_BALANCES)


def downgrade() -> None:
    op.drop_table("credits")
