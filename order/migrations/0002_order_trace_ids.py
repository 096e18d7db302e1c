"""An order records the trace of the request that placed it.

Revision ID: order_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "order_0002"
down_revision = "order_0001"


def upgrade() -> None:
    op.add_column("orders", sa.Column("trace_id", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("trace_id")
