"""The order service's business metric: orders, by outcome."""

from shared.metrics import meter

ORDERS = meter.create_counter(
    "app.orders",
    unit="{order}",
    description="Orders, by outcome (placed, replayed, refused or failed) and the error code.",
)
