"""The first release's users table.

Revision ID: users_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "users_0001"
down_revision = None
branch_labels = ("users",)

Cents = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Cents, primary_key=True, autoincrement=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("amount", Cents, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_users_amount_not_negative"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("users")
