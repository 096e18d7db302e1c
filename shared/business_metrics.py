"""Business metrics: what the shop did, counted by outcome, next to the HTTP metrics.

Attributes stay low-cardinality (an outcome and an error code, never a user or order id), so
every combination is one small time series a dashboard can chart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import metrics
from opentelemetry.metrics import Counter
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from shared.errors import ApiError

log = logging.getLogger(__name__)
_meter = metrics.get_meter("tracing-demo")

ORDERS = _meter.create_counter(
    "app.orders",
    unit="{order}",
    description="Orders, by outcome (placed, refused or failed) and the refusal's error code.",
)
CREDITS = _meter.create_counter(
    "app.credits",
    unit="{credit}",
    description="Credits to a balance, by outcome (applied, refused or failed) and error code.",
)
MONEY_MOVED = _meter.create_counter(
    "app.money.moved",
    unit="{cent}",
    description="Money moved, in cents: credited by transfers, paid by orders (app.flow).",
)


@contextmanager
def count_outcome(counter: Counter, success: str) -> Iterator[None]:
    """Count one attempt: ``success`` if the block returns, else refused (4xx) or failed.

    A refusal is also logged (failures are, by the error handlers), so it shows in its trace.
    """
    try:
        yield
    except ApiError as exc:
        outcome = "refused" if exc.status < 500 else "failed"
        counter.add(1, {"app.outcome": outcome, "app.error": exc.code})
        if outcome == "refused":
            log.info("refused (%s): %s", exc.code, exc.message)
        raise
    except (OperationalError, PoolTimeoutError):
        counter.add(1, {"app.outcome": "failed", "app.error": "database_unavailable"})
        raise
    except Exception:
        counter.add(1, {"app.outcome": "failed", "app.error": "internal_error"})
        raise
    counter.add(1, {"app.outcome": success})
