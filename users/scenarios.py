"""The users service's part of the scenarios: rejected credits, a wait before serving, and a
credit's answer delayed until its caller gave up on it."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import propagate
from opentelemetry.instrumentation.wsgi import wsgi_getter

from shared.scenarios import Scenario, app_settings, is_active, requested_scenario
from shared.settings import Settings

log = logging.getLogger(__name__)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def should_reject_credit() -> bool:
    """``payment-failure``: this credit is one of the rejected share."""
    return is_active(Scenario.PAYMENT_FAILURE) and (
        random.random() < app_settings().payment_failure_rate
    )


def delay_answer_if_lost_response() -> None:
    """``lost-response``: the credit is applied; its answer leaves after the caller's timeout.

    Called only for a credit just applied, never for a replay: the caller's retry, with the
    same key, is answered at once with what this credit did.
    """
    if is_active(Scenario.LOST_RESPONSE):
        delay_ms = app_settings().scenario_lost_response_ms
        log.info("lost-response: the credit is applied; answering in %d ms", delay_ms)
        time.sleep(delay_ms / 1000)


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
