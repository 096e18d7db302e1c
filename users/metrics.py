"""The users service's business metric: credits, by outcome."""

from shared.metrics import meter

CREDITS = meter.create_counter(
    "app.credits",
    unit="{credit}",
    description="Credits, by outcome (applied, replayed, refused or failed) and error code.",
)
