"""Business metrics: what the shop did, counted by outcome, next to the HTTP metrics.

Each service declares its own counters (``users/metrics.py``, ``order/metrics.py``) on
:data:`meter`. Attributes stay low-cardinality (an outcome and an error code, never a user or
order id), so every combination is one small time series a dashboard can chart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import Counter

from shared.errors import as_api_error

log = logging.getLogger(__name__)
meter = metrics.get_meter("tracing-demo")

MONEY_MOVED = meter.create_counter(
    "app.money.moved",
    unit="{cent}",
    description="Money moved, in cents: credited by transfers, paid by orders (app.flow).",
)


@dataclass
class Counted:
    """The outcome of a block that succeeds (``placed``, ``replayed``...): the block states it,
    once, where it knows it."""

    outcome: str | None = None


@contextmanager
def count_outcome(counter: Counter) -> Iterator[Counted]:
    """Count one attempt: the outcome the block states if it returns, else refused (4xx) or
    failed (5xx).

    A refusal is also logged (failures are, by the error handlers), so it shows in its trace.
    """
    counted = Counted()
    try:
        yield counted
    except Exception as exc:
        error = as_api_error(exc)
        counter.add(1, {"app.outcome": error.outcome, "app.error": error.code})
        if error.outcome == "refused":
            log.info("refused (%s): %s", error.code, error.message)
        raise
    if counted.outcome is None:
        raise RuntimeError("a block counted by count_outcome returned without its outcome")
    counter.add(1, {"app.outcome": counted.outcome})
