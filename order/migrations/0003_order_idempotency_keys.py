"""An order records the client's Idempotency-Key: a retried order is answered, not paid again.

Revision ID: order_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import VARBINARY

revision = "order_0003"
down_revision = "order_0002"

IdempotencyKey = sa.LargeBinary().with_variant(VARBINARY(255), "mysql", "mariadb")


def upgrade() -> None:
    op.add_column("orders", sa.Column("idempotency_key", IdempotencyKey))
    op.create_index(
        "uq_orders_user_id_idempotency_key",
        "orders",
        ["user_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_orders_user_id_idempotency_key", "orders")
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("idempotency_key")
