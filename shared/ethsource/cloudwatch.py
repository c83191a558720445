"""CloudWatch metrics on Lambda, where nothing scrapes /metrics: what the Prometheus counters and histograms that
matter there counted during an invocation, written at its end as embedded-metric-format lines (Powertools
Metrics) that CloudWatch turns into metrics.

Read from the Prometheus metrics themselves, as differences since the last invocation: the code that counts
knows nothing of CloudWatch, and nothing but a Lambda invocation's end (ethsource.lambda_runtime) pays for it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from prometheus_client import Metric

from .metrics import ETHERSCAN_CALLS, ETHERSCAN_DURATION, HTTP_DURATION, HTTP_REQUESTS, SCAN_DURATION, SCANS, SWEPT

MAX_VALUES = 100  # per metric in one EMF line (CloudWatch's limit); Powertools writes a line per hundred


@dataclass(frozen=True)
class Emitted:
    """A Prometheus metric as a CloudWatch metric, in dimensions `service` (the function) and, in a second set,
    `service` and the labels named here."""

    metric: object  # a prometheus_client Counter or Histogram
    name: str
    labels: tuple[str, ...]
    unit: MetricUnit = MetricUnit.Count


EMITTED = (
    Emitted(HTTP_REQUESTS, "Requests", ("route", "status")),
    Emitted(HTTP_DURATION, "Latency", ("route",), MetricUnit.Milliseconds),
    Emitted(SCANS, "Scans", ("outcome",)),
    Emitted(SCAN_DURATION, "ScanDuration", (), MetricUnit.Milliseconds),
    Emitted(ETHERSCAN_CALLS, "EtherscanCalls", ("result",)),
    Emitted(ETHERSCAN_DURATION, "EtherscanCallDuration", (), MetricUnit.Milliseconds),
    Emitted(SWEPT, "SweptContracts", ()),
)
_last: dict[tuple, float] = {}  # every sample's value at the last emission


def emit(function: str, namespace: str) -> None:
    """Write what each emitted metric counted since the last call, one EMF line per dimension values.

    5xx answers are also counted as ServerErrors (0 otherwise), so an alarm divides two metrics of one dimension.
    """
    lines: dict[tuple, EphemeralMetrics] = {}

    def line(dimensions: dict[str, str]) -> EphemeralMetrics:
        key = tuple(sorted(dimensions.items()))
        if key not in lines:
            metrics = lines[key] = EphemeralMetrics(namespace=namespace, service=function)
            if dimensions:
                metrics.add_dimensions(service=function, **dimensions)
        return lines[key]

    for emitted in EMITTED:
        for family in emitted.metric.collect():
            for labels, value in _changes(emitted, family).items():
                dimensions = dict(zip(emitted.labels, labels, strict=True))
                if emitted.unit is MetricUnit.Count:
                    line(dimensions).add_metric(emitted.name, emitted.unit, value[0])
                    if emitted.name == "Requests":
                        line(dimensions).add_metric("ServerErrors", emitted.unit,
                                                    value[0] if dimensions["status"].startswith("5") else 0)
                else:
                    for milliseconds in value[:MAX_VALUES]:
                        line(dimensions).add_metric(emitted.name, emitted.unit, milliseconds)
    for metrics in lines.values():
        metrics.flush_metrics()


def _changes(emitted: Emitted, family: Metric) -> dict[tuple, list[float]]:
    """By the emitted labels' values: a counter's increase ([n]), or a histogram's new observations in ms (the
    exact one when there is one, else each one's bucket bound)."""
    counts: dict[tuple, float] = defaultdict(float)
    sums: dict[tuple, float] = defaultdict(float)
    buckets: dict[tuple, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for sample in family.samples:
        key = (sample.name, tuple(sorted(sample.labels.items())))
        change, _last[key] = sample.value - _last.get(key, 0.0), sample.value
        if not change:
            continue
        labels = tuple(sample.labels.get(label, "") for label in emitted.labels)
        if sample.name.endswith("_total") or sample.name.endswith("_count"):
            counts[labels] += change
        elif sample.name.endswith("_sum"):
            sums[labels] += change
        elif sample.name.endswith("_bucket"):
            buckets[labels][float(sample.labels["le"])] += change  # cumulative, summed over the other labels
    if emitted.unit is MetricUnit.Count:
        return {labels: [count] for labels, count in counts.items()}
    return {labels: _observations(count, sums[labels], buckets[labels]) for labels, count in counts.items()}


def _observations(count: float, total_s: float, cumulative: dict[float, float]) -> list[float]:
    if count == 1:
        return [total_s * 1000]
    values, below = [], 0.0
    finite = [bound for bound in cumulative if math.isfinite(bound)]
    for bound, up_to in sorted(cumulative.items()):
        values += [(bound if math.isfinite(bound) else max(finite, default=0.0)) * 1000] * int(up_to - below)
        below = up_to
    return values
