"""OTLP metric points as the Collector's ``prometheus`` exporter serves them: OpenMetrics text.

The page reads one metrics shape everywhere, what the Collector's ``prometheus`` exporter answers
with ``enable_open_metrics: true`` (compose, the Kubernetes ``jaeger`` overlay). ``make run`` has
no Collector: the frontend server keeps the services' latest points (``frontend.metrics_file``)
and renders them here by that exporter's rules (Collector 0.161.0, its names built as
prometheus/otlptranslator builds them, with suffixes, other signs escaped to underscores):

- a name is the metric's words joined by ``_``, then its unit's (``s``: ``seconds``; a unit in
  braces such as ``{order}`` adds none), then ``total`` for a counter;
- a monotonic sum is a counter, any other sum a gauge, an explicit-bucket histogram a histogram
  (``_bucket`` per ``le``, ``_sum``, ``_count``);
- a series' labels are its point's attributes (``http.route``: ``http_route``), its scope's
  ``otel_scope_name``, ``otel_scope_version`` and ``otel_scope_schema_url``, ``job``
  (``service.namespace/service.name``) and ``instance`` (``service.instance.id``); one
  ``target_info`` gauge per instance carries the rest of its resource;
- an exemplar carries ``trace_id`` and ``span_id``: a counter shows its point's last one, each
  histogram bucket the last one whose value falls in it.

The text itself (escaping, the exemplar syntax, ``# EOF``) is the Prometheus client library's.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar as OtlpExemplar
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.core import Metric as PrometheusFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

# What a Prometheus server asks for; the Collector's exporter answers exactly this.
OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0"
_encode, CONTENT_TYPE = choose_encoder(OPENMETRICS_ACCEPT)

# otlptranslator's units: the main unit's word, and the word after ``per_`` of ``x/y``.
UNITS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
PER_UNITS = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}

SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID = (
    "service.name",
    "service.namespace",
    "service.instance.id",
)
TARGET_INFO = "target_info"
TARGET_INFO_HELP = "Target metadata"

_NOT_A_NAME_SIGN = re.compile(r"[^a-zA-Z0-9:]+")
_NOT_A_LABEL_SIGN = re.compile(r"[^a-zA-Z0-9_]")


def _unit_word(unit: str, words: Mapping[str, str]) -> str:
    """A unit's word in a name: none for an annotation (``{request}``), cleaned otherwise."""
    unit = unit.strip()
    if not unit or "{" in unit or "}" in unit:
        return ""
    word = words.get(unit, unit)
    return re.sub(r"__+", "_", re.sub(r"[^a-zA-Z0-9]", "_", word)).lstrip("_")


def metric_name(name: str, unit: str, kind: str) -> str:
    """The Prometheus name of an OTLP metric of ``kind`` (``counter``, ``gauge``, ``histogram``),
    with the ``_total`` a counter's samples carry."""
    words = [word for word in _NOT_A_NAME_SIGN.split(name) if word]
    main, _, per = unit.partition("/")
    main_word = _unit_word(main, UNITS)
    per_word = _unit_word(per, PER_UNITS)
    per_word = f"per_{per_word}" if per_word else ""
    if main_word and main_word not in words:
        words.append(main_word)
    if per_word and per_word not in words:
        words.append(per_word)
    if kind == "counter":
        words = [word for word in words if word != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        words = [word for word in words if word != "ratio"] + ["ratio"]
    joined = "_".join(words)
    return f"_{joined}" if joined[:1].isdigit() else joined


def label_name(key: str) -> str:
    """An attribute's key as a label name."""
    label = _NOT_A_LABEL_SIGN.sub("_", key)
    if label[:1].isdigit():
        return f"key_{label}"
    if label.startswith("_") and not label.startswith("__"):
        return f"key{label}"
    return label


def label_value(value: AnyValue) -> str:
    """An attribute's value as the Collector writes it in a label (``AsString``)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "array_value":
        return json.dumps([label_value(item) for item in value.array_value.values])
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return ""


def attributes(pairs: Iterable[KeyValue]) -> dict[str, str]:
    """Attributes as label names and values."""
    return {label_name(pair.key): label_value(pair.value) for pair in pairs}


def job_and_instance(resource: Mapping[str, str]) -> dict[str, str]:
    """``job`` and ``instance``, the labels of the process a point comes from."""
    labels = {}
    if SERVICE_NAME in resource:
        namespace = resource.get(SERVICE_NAMESPACE)
        name = resource[SERVICE_NAME]
        labels["job"] = f"{namespace}/{name}" if namespace else name
    if SERVICE_INSTANCE_ID in resource:
        labels["instance"] = resource[SERVICE_INSTANCE_ID]
    return labels


def exemplar(point: OtlpExemplar) -> Exemplar:
    """An OTLP exemplar with the labels the Collector gives it: its trace and span ids."""
    labels = {}
    if point.trace_id:
        labels["trace_id"] = point.trace_id.hex()
    if point.span_id:
        labels["span_id"] = point.span_id.hex()
    kind = point.WhichOneof("value")
    value = float(point.as_int if kind == "as_int" else point.as_double)
    return Exemplar(labels, value, point.time_unix_nano / 1e9)


def family_kind(metric: Metric) -> str | None:
    """``counter``, ``gauge`` or ``histogram``; None for what the page's source does not show.

    The services' SDK exports cumulative points, each the whole count so far: the latest is the
    value. A delta point, an exponential histogram or a summary is not rendered.
    """
    data = metric.WhichOneof("data")
    cumulative = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    if data == "sum" and metric.sum.aggregation_temporality == cumulative:
        return "counter" if metric.sum.is_monotonic else "gauge"
    if data == "gauge":
        return "gauge"
    if data == "histogram" and metric.histogram.aggregation_temporality == cumulative:
        return "histogram"
    return None


def number_sample(name: str, point: NumberDataPoint, labels: dict[str, str]) -> Sample:
    """A counter's or a gauge's sample; a counter's carries the point's last exemplar."""
    value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
    last = exemplar(point.exemplars[-1]) if point.exemplars and name.endswith("_total") else None
    return Sample(name, labels, float(value), None, last)


def histogram_samples(name: str, point: HistogramDataPoint, labels: dict[str, str]) -> list[Sample]:
    """A histogram's cumulative buckets (``+Inf`` holds the count), each with the last exemplar
    whose value is at most its bound, then its sum and count."""
    bounds = list(point.explicit_bounds)
    by_bucket: dict[int, Exemplar] = {}
    for each in point.exemplars:
        kept = exemplar(each)
        by_bucket[bisect.bisect_left(bounds, kept.value)] = kept
    samples = []
    cumulative = 0
    for index, bound in enumerate(bounds):
        cumulative += point.bucket_counts[index] if index < len(point.bucket_counts) else 0
        le = {**labels, "le": floatToGoString(bound)}  # type: ignore[no-untyped-call]
        samples.append(Sample(f"{name}_bucket", le, float(cumulative), None, by_bucket.get(index)))
    inf = {**labels, "le": "+Inf"}
    samples.append(
        Sample(f"{name}_bucket", inf, float(point.count), None, by_bucket.get(len(bounds)))
    )
    samples.append(Sample(f"{name}_sum", labels, point.sum))
    samples.append(Sample(f"{name}_count", labels, float(point.count)))
    return samples


def scope_labels(scope_metrics: ScopeMetrics) -> dict[str, str]:
    """The labels every series of a scope carries."""
    scope = scope_metrics.scope
    return {
        **{
            label_name(f"otel_scope_{pair.key}"): label_value(pair.value)
            for pair in scope.attributes
        },
        "otel_scope_name": scope.name,
        "otel_scope_version": scope.version,
        "otel_scope_schema_url": scope_metrics.schema_url,
    }


@dataclass
class Family:
    """One family being gathered: its type and help (the first point's: the Collector drops a
    point whose type conflicts), and its series' samples by their labels."""

    kind: str
    help_text: str
    series: dict[tuple[tuple[str, str], ...], list[Sample]] = field(default_factory=dict)


class PointsCollector:
    """The families of some OTLP points, as a Prometheus client collector (``collect``)."""

    def __init__(self, resource_metrics: Iterable[ResourceMetrics]) -> None:
        self.resource_metrics = list(resource_metrics)

    def collect(self) -> Iterator[PrometheusFamily]:
        families: dict[str, Family] = {}
        targets: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for resource_metrics in self.resource_metrics:
            resource = {
                pair.key: label_value(pair.value) for pair in resource_metrics.resource.attributes
            }
            process = job_and_instance(resource)
            if process:
                targets.setdefault(tuple(sorted(process.items())), target_labels(resource))
            for scope_metrics in resource_metrics.scope_metrics:
                labels = {**scope_labels(scope_metrics), **process}
                for metric in scope_metrics.metrics:
                    gather(families, metric, labels)
        if targets:
            info = families.setdefault(TARGET_INFO, Family("gauge", TARGET_INFO_HELP))
            for key, labels in targets.items():
                info.series[key] = [Sample(TARGET_INFO, labels, 1.0)]
        for name in sorted(families):
            yield prometheus_family(name, families[name])


def target_labels(resource: Mapping[str, str]) -> dict[str, str]:
    """``target_info``'s labels: the resource but for what ``job`` and ``instance`` say."""
    rest = {
        label_name(key): value
        for key, value in resource.items()
        if key not in (SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID)
    }
    return {**rest, **job_and_instance(resource)}


def gather(families: dict[str, Family], metric: Metric, labels: dict[str, str]) -> None:
    """Every point of ``metric`` into its family, under ``labels`` plus its own attributes."""
    kind = family_kind(metric)
    if kind is None:
        return
    name = metric_name(metric.name, metric.unit, kind)
    family_name = name.removesuffix("_total") if kind == "counter" else name
    family = families.setdefault(family_name, Family(kind, metric.description))
    if family.kind != kind:
        return
    points = (
        metric.sum.data_points
        if metric.HasField("sum")
        else metric.gauge.data_points
        if metric.HasField("gauge")
        else metric.histogram.data_points
    )
    for point in points:
        series = {**labels, **attributes(point.attributes)}
        key = tuple(sorted(series.items()))
        if kind == "histogram":
            family.series[key] = histogram_samples(name, point, series)
        else:
            family.series[key] = [number_sample(name, point, series)]


def prometheus_family(name: str, family: Family) -> PrometheusFamily:
    """The Prometheus client's family, its series in label order as the Collector's are.

    Its samples are appended whole: series of one family may carry different labels (an order
    refused has ``app_error``, a placed one none), and the families' ``add_metric`` takes one
    list of label names per family.
    """
    made: PrometheusFamily
    if family.kind == "counter":
        made = CounterMetricFamily(name, family.help_text)
    elif family.kind == "gauge":
        made = GaugeMetricFamily(name, family.help_text)
    else:
        made = HistogramMetricFamily(name, family.help_text)
    for key in sorted(family.series):
        made.samples.extend(family.series[key])
    return made


def render(resource_metrics: Iterable[ResourceMetrics]) -> bytes:
    """OpenMetrics text (``CONTENT_TYPE``) of the points, with their exemplars."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PointsCollector(resource_metrics))
    body: bytes = _encode(registry)
    return body
