"""Scenario switches: realistic faults, switched on per request by W3C baggage.

A client sends ``baggage: demo.scenario=<name>``; OpenTelemetry's baggage propagator carries it
through every hop, so each service decides from the baggage of the request it is serving.
Unknown or malformed values are ignored. ``DEFAULT_SCENARIO`` applies one to every request that
carries none (for unattended runs). What each scenario does lives in the service it affects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from opentelemetry import baggage
from opentelemetry.context import Context

if TYPE_CHECKING:
    from shared.settings import Settings

__all__ = [
    "BAGGAGE_KEY",
    "Scenario",
    "is_active",
    "requested_scenario",
    "scenario_in",
]

BAGGAGE_KEY = "demo.scenario"
SPAN_ATTRIBUTE = "app.scenario"


class Scenario(StrEnum):
    """The faults a request can ask for."""

    # The order's transaction runs a slow SQL statement: a long SQL span inside "insert order".
    SLOW_DB = "slow-db"
    # The users service rejects a share of credits: the error starts at "update user amount".
    PAYMENT_FAILURE = "payment-failure"
    # Requests to the users service wait before it starts serving them: a long client span
    # around a short server span (time lost between the services, not inside one).
    USERS_LATENCY = "users-latency"
    # Orders lock the user's row and hold it: concurrent orders queue on the lock.
    LOCK_CONTENTION = "lock-contention"
    # The users service applies a credit, then answers after the payment service stopped
    # waiting: the payment service retries with the same idempotency key and gets a replay.
    LOST_RESPONSE = "lost-response"


def requested_scenario(ctx: Context | None = None) -> Scenario | None:
    """The scenario the baggage of ``ctx`` names, or ``None`` (no baggage, or no such name)."""
    value = baggage.get_baggage(BAGGAGE_KEY, ctx)
    if not isinstance(value, str):
        return None
    try:
        return Scenario(value.strip())
    except ValueError:
        return None


def scenario_in(ctx: Context | None = None) -> Scenario | None:
    """The scenario of the request being served: its baggage, else the configured default."""
    requested = requested_scenario(ctx)
    if requested is not None:
        return requested
    # Flask is imported here, when a request asks, not when this module is: the settings import
    # Scenario, and every gunicorn master reads its settings without loading Flask.
    from flask import has_app_context

    return app_settings().default_scenario if has_app_context() else None


def app_settings() -> Settings:
    """The settings of the app serving this request."""
    from flask import current_app  # when a request asks (see scenario_in)

    settings: Settings = current_app.extensions["settings"]
    return settings


def is_active(scenario: Scenario) -> bool:
    """Whether the request being served asked for ``scenario`` (or it is the default)."""
    return scenario_in() is scenario
