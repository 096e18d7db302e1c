"""Reading OpenMetrics text back, with the Prometheus client's own parser: families, samples,
exemplars, and the shape two sources share."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric as Family
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

# What the Collector's prometheus exporter answers when asked for OpenMetrics.
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"


def families(text: str) -> dict[str, Family]:
    """Every family of an exposition, by name (the parser rejects what is not OpenMetrics)."""
    parsed = text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
    return {family.name: family for family in parsed}


def samples(family: Family, name: str, **labels: str) -> list[Sample]:
    """The samples called ``name`` whose labels include ``labels``."""
    return [
        sample
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


def shape(text: str) -> dict[str, tuple[str, frozenset[frozenset[str]], frozenset[str]]]:
    """What an exposition looks like, whatever its values and instance ids: each family's type,
    the label names of its series, and the label names of its exemplars."""
    found = {}
    for name, family in families(text).items():
        labels = frozenset(frozenset(sample.labels) for sample in family.samples)
        exemplars = frozenset(
            key for sample in family.samples if sample.exemplar for key in sample.exemplar.labels
        )
        found[name] = (family.type, labels, exemplars)
    return found
