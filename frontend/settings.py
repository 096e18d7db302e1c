"""The frontend server's own variables, beside the ones every process reads."""

from __future__ import annotations

from typing import ClassVar

from pydantic import field_validator

from shared.settings import Settings, normalize_base_url

LOCAL_TRACE_VIEWER = "/traces/{trace_id}"
DEFAULT_METRICS_FILE = "var/metrics.pb"


class FrontendSettings(Settings):
    """The collector that takes the browser's spans (none: the spans file), the trace link's
    template, the Jaeger query service the page's trace view reads, and where the page's
    metrics come from: the Collector's ``prometheus`` exporter, or (no collector) the metrics
    file the services' exports are kept in."""

    collector_otlp_http_url: str | None = None
    trace_ui_url: str | None = None
    jaeger_query_url: str | None = None
    collector_prometheus_url: str | None = None
    metrics_file: str = DEFAULT_METRICS_FILE

    # An empty TRACE_UI_URL means "no link".
    empty_is_a_value: ClassVar[frozenset[str]] = frozenset({"trace_ui_url"})

    @field_validator(
        "collector_otlp_http_url", "jaeger_query_url", "collector_prometheus_url", mode="after"
    )
    @classmethod
    def _optional_base_url(cls, value: str | None) -> str | None:
        return normalize_base_url(value) if value and value.strip() else None

    @property
    def trace_link(self) -> str:
        """The page's trace link: ``TRACE_UI_URL``, else the built-in viewer when no collector."""
        if self.trace_ui_url is not None:
            return self.trace_ui_url
        return "" if self.collector_otlp_http_url else LOCAL_TRACE_VIEWER
