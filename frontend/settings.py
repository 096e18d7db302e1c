"""The frontend server's settings, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import normalize_base_url
from shared.span_lines import DEFAULT_SPANS_FILE

DEFAULT_COLLECTOR_OTLP_HTTP_URL = "http://localhost:4318"
LOCAL_TRACE_VIEWER = "/traces/{trace_id}"


@dataclass(frozen=True)
class FrontendSettings:
    """Where the services and the collector are, and how the page links to a trace."""

    user_url: str
    payment_url: str
    order_url: str
    # Empty: no collector; browser spans are written to ``spans_file`` like the services' own.
    collector_otlp_http_url: str
    spans_file: str
    trace_ui_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FrontendSettings:
        env = os.environ if environ is None else environ
        collector = env.get("COLLECTOR_OTLP_HTTP_URL", DEFAULT_COLLECTOR_OTLP_HTTP_URL).strip()
        collector = normalize_base_url(collector) if collector else ""
        default_trace_ui = "" if collector else LOCAL_TRACE_VIEWER
        return cls(
            user_url=normalize_base_url(env.get("USER_URL") or "localhost:8080"),
            payment_url=normalize_base_url(env.get("PAYMENT_URL") or "localhost:8081"),
            order_url=normalize_base_url(env.get("ORDER_URL") or "localhost:8082"),
            collector_otlp_http_url=collector,
            spans_file=env.get("SPANS_FILE") or DEFAULT_SPANS_FILE,
            trace_ui_url=env.get("TRACE_UI_URL", default_trace_ui),
        )
