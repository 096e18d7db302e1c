"""Scenario switches: realistic faults, switched on per request by W3C baggage.

A client sends ``baggage: demo.scenario=<name>``; OpenTelemetry's baggage propagator carries it
through every hop, so each service decides from the baggage of the request it is serving.
Unknown or malformed values are ignored. ``DEFAULT_SCENARIO`` applies one to every request that
carries none (for unattended runs).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import current_app, has_app_context
from opentelemetry import baggage, propagate
from opentelemetry.context import Context
from opentelemetry.instrumentation.wsgi import wsgi_getter
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from shared.errors import ConfigError

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class ScenarioSettings:
    """How strong each scenario is, and which one applies by default."""

    default: Scenario | None = None
    slow_db_ms: int = 400
    users_latency_ms: int = 400
    lock_hold_ms: int = 250
    payment_failure_rate: float = 0.5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScenarioSettings:
        default = (env.get("DEFAULT_SCENARIO") or "").strip()
        if default and default not in Scenario.__members__.values():
            raise ConfigError(f"DEFAULT_SCENARIO={default!r}: choose one of {names()}")
        rate = float(env.get("PAYMENT_FAILURE_RATE") or cls.payment_failure_rate)
        if not 0.0 <= rate <= 1.0:
            raise ConfigError("PAYMENT_FAILURE_RATE must be between 0 and 1")
        return cls(
            default=Scenario(default) if default else None,
            slow_db_ms=_milliseconds(env, "SCENARIO_SLOW_DB_MS", cls.slow_db_ms),
            users_latency_ms=_milliseconds(env, "SCENARIO_USERS_LATENCY_MS", cls.users_latency_ms),
            lock_hold_ms=_milliseconds(env, "SCENARIO_LOCK_HOLD_MS", cls.lock_hold_ms),
            payment_failure_rate=rate,
        )


def names() -> str:
    return ", ".join(scenario.value for scenario in Scenario)


def _milliseconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 60_000:
        raise ConfigError(f"{name} must be a whole number of milliseconds up to 60000")
    return int(raw)


def parse_scenario(value: object) -> Scenario | None:
    """The scenario a baggage value names, or ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return Scenario(value.strip())
    except ValueError:
        return None


def scenario_in(ctx: Context | None = None) -> Scenario | None:
    """The scenario of the request being served: its baggage, else the configured default."""
    requested = parse_scenario(baggage.get_baggage(BAGGAGE_KEY, ctx))
    if requested is not None:
        return requested
    return scenario_settings().default if has_app_context() else None


def scenario_settings() -> ScenarioSettings:
    settings: ScenarioSettings = current_app.extensions["settings"].scenarios
    return settings


def is_active(scenario: Scenario) -> bool:
    return scenario_in() is scenario


def should_reject_credit() -> bool:
    """``payment-failure``: this credit is one of the rejected share."""
    return is_active(Scenario.PAYMENT_FAILURE) and (
        random.random() < scenario_settings().payment_failure_rate
    )


class ScenarioSpanProcessor(SpanProcessor):
    """Puts ``app.scenario`` on every span started under a scenario, so traces can be filtered."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        scenario = scenario_in(parent_context)
        if scenario is not None:
            span.set_attribute(SPAN_ATTRIBUTE, scenario.value)

    def on_end(self, span: ReadableSpan) -> None:
        pass


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DelayBeforeServing:
    """WSGI middleware for ``users-latency``: waits *before* the server span starts.

    It wraps the instrumented app, so the wait shows in the caller's client span but not in this
    service's server span, like time lost in a network, a proxy or a saturated accept queue.
    """

    def __init__(self, app: WsgiApp, settings: ScenarioSettings, paths: tuple[str, ...]) -> None:
        self.app = app
        self.delay_s = settings.users_latency_ms / 1000
        self.default = settings.default
        self.paths = paths

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith(self.paths):
            requested = None
            if "HTTP_BAGGAGE" in environ:  # most requests carry none: no header parsing then
                extracted = propagate.extract(environ, getter=wsgi_getter)
                requested = parse_scenario(baggage.get_baggage(BAGGAGE_KEY, extracted))
            if (requested or self.default) is Scenario.USERS_LATENCY:
                time.sleep(self.delay_s)
        return self.app(environ, start_response)
