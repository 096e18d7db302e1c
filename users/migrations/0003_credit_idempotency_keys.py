"""A credit records the client's Idempotency-Key and the balance it left: a retried credit is
answered with what the first one did, not applied again.

Revision ID: users_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import VARBINARY

revision = "users_0003"
down_revision = "users_0002"

Cents = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
IdempotencyKey = sa.LargeBinary().with_variant(VARBINARY(255), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("credits", sa.Column("idempotency_key", IdempotencyKey))
    op.add_column("credits", sa.Column("balance_after", Cents))
    op.create_index(
        "uq_credits_user_id_idempotency_key",
        "credits",
        ["user_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_credits_user_id_idempotency_key", "credits")
    with op.batch_alter_table("credits") as credits:
        credits.drop_column("balance_after")
        credits.drop_column("idempotency_key")
