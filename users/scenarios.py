"""The users service's part of the scenarios: rejected credits and a wait before serving."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import propagate
from opentelemetry.instrumentation.wsgi import wsgi_getter

from shared.scenarios import Scenario, app_settings, is_active, requested_scenario
from shared.settings import Settings

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def should_reject_credit() -> bool:
    """``payment-failure``: this credit is one of the rejected share."""
    return is_active(Scenario.PAYMENT_FAILURE) and (
        random.random() < app_settings().payment_failure_rate
    )


class DelayBeforeServing:
    """WSGI middleware for ``users-latency``: waits *before* the server span starts.

    It wraps the instrumented app, so the wait shows in the caller's client span but not in this
    service's server span, like time lost in a network, a proxy or a saturated accept queue.
    """

    def __init__(self, app: WsgiApp, settings: Settings, paths: tuple[str, ...]) -> None:
        self.app = app
        self.delay_s = settings.scenario_users_latency_ms / 1000
        self.default = settings.default_scenario
        self.paths = paths

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith(self.paths):
            requested = None
            if "HTTP_BAGGAGE" in environ:  # most requests carry none: no header parsing then
                requested = requested_scenario(propagate.extract(environ, getter=wsgi_getter))
            if (requested or self.default) is Scenario.USERS_LATENCY:
                time.sleep(self.delay_s)
        return self.app(environ, start_response)
