"""In-process Prometheus metrics: counters, gauges and histograms rendered in the text exposition format.

Recording is cheap enough for the hot path: a counter is one dict increment, a histogram one dict
lookup and one bisect. `/metrics` renders on demand (app/health.py adds what only Redis knows).
Labels are low-cardinality only (call type, model group, outcome): never key, user or account ids.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

# Seconds: a gateway request spans ~1 ms (refusals) to minutes (long streams).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_UNSAFE_NAME = re.compile(r"[^a-zA-Z0-9_:]")


def metric_name(raw: str) -> str:
    """A valid Prometheus metric name made of `raw` (anything else becomes `_`)."""
    name = _UNSAFE_NAME.sub("_", raw)
    return name if name and not name[0].isdigit() else "_" + name


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    pairs = [f'{name}="{_escape(str(value))}"' for name, value in zip(names, values)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _header(name: str, kind: str, help_text: str) -> list[str]:
    help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def render_family(name: str, kind: str, help_text: str, labels: tuple[str, ...],
                  samples: Iterable[tuple[tuple[str, ...], float]]) -> list[str]:
    """One counter or gauge family from (label values, value) pairs, e.g. numbers read from Redis."""
    return _header(name, kind, help_text) + [f"{name}{_labels(labels, key)} {number(value)}" for key, value in samples]


def render_histogram(name: str, help_text: str, labels: tuple[str, ...], bounds: tuple[float, ...],
                     series: Mapping[tuple[str, ...], tuple[list[float], float]]) -> list[str]:
    """A histogram family from per-series (counts per bucket, the last one above every bound; sum)."""
    lines = _header(name, "histogram", help_text)
    for key, (counts, total) in series.items():
        cumulative = 0.0
        for bound, count in zip((*bounds, math.inf), counts):
            cumulative += count
            le = 'le="' + number(bound) + '"'
            lines.append(f"{name}_bucket{_labels(labels, key, le)} {number(cumulative)}")
        lines.append(f"{name}_sum{_labels(labels, key)} {number(total)}")
        lines.append(f"{name}_count{_labels(labels, key)} {number(cumulative)}")
    return lines


class Counter:
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labels = name, help_text, labels
        self.values: dict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self.values[label_values] += amount

    def render(self) -> list[str]:
        return render_family(self.name, "counter", self.help, self.labels, list(self.values.items()))


class Gauge:
    """A value read when scraped (`read`), or set per label values (`set`, `inc`)."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float] | None = None,
                 labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.read, self.labels = name, help_text, read, labels
        self.values: dict[tuple[str, ...], float] = defaultdict(float)

    def set(self, value: float, *label_values: str) -> None:
        self.values[label_values] = value

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self.values[label_values] += amount

    def render(self) -> list[str]:
        samples = [((), self.read())] if self.read is not None else list(self.values.items())
        return render_family(self.name, "gauge", self.help, self.labels, samples)


class Histogram:
    """Observations counted into buckets (upper bounds, inclusive, as Prometheus' `le`)."""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = (),
                 buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.labels = name, help_text, labels
        self.bounds = tuple(sorted(float(bound) for bound in buckets if not math.isinf(bound)))
        # Per label values: a count per bucket, one more above every bound, then the sum.
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, value: float, *label_values: str) -> None:
        series = self.series.get(label_values)
        if series is None:
            series = self.series[label_values] = [0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, value)] += 1
        series[-1] += value

    def render(self) -> list[str]:
        snapshot = {key: (series[:-1], series[-1]) for key, series in list(self.series.items())}
        return render_histogram(self.name, self.help, self.labels, self.bounds, snapshot)


Metric = Counter | Gauge | Histogram
M = TypeVar("M", Counter, Gauge, Histogram)


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def register(self, metric: M) -> M:
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in list(self._metrics.values()):
            lines += metric.render()
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
REQUESTS = REGISTRY.register(Counter(
    "alchemi_requests_total", "Data-plane requests by call type, model group and outcome",
    ("call_type", "model_group", "status")))
REQUEST_SECONDS = REGISTRY.register(Histogram(
    "alchemi_request_duration_seconds", "Data-plane request latency, arrival to settlement (streams: to their end)",
    ("call_type", "model_group")))
FIRST_TOKEN_SECONDS = REGISTRY.register(Histogram(
    "alchemi_time_to_first_token_seconds", "Streams: arrival to the first content chunk relayed",
    ("call_type", "model_group")))
TOKENS = REGISTRY.register(Counter(
    "alchemi_tokens_total", "Tokens of settled requests (estimated when the upstream reported none)",
    ("call_type", "model_group", "kind")))
SPEND = REGISTRY.register(Counter(
    "alchemi_spend_usd_total", "Charged cost of settled requests (markup included), USD",
    ("call_type", "model_group")))
ERRORS = REGISTRY.register(Counter(
    "alchemi_request_errors_total", "Data-plane requests answered with an error, by its type and code",
    ("call_type", "model_group", "type", "code")))
# Upstream errors can pass their own codes through: keep the label set bounded whatever an upstream says.
_CODE = re.compile(r"[a-z0-9_.\-]{1,48}")
_MAX_ERROR_SERIES = 1000


def count_error(call_type: str, model_group: str, error_type: str, code: str | None) -> None:
    """One data-plane request answered with an error (count each request once, where it is refused)."""
    code = "" if not code else code if _CODE.fullmatch(code) else "other"
    key = (call_type, model_group, error_type, code)
    if key not in ERRORS.values and len(ERRORS.values) >= _MAX_ERROR_SERIES:
        key = (call_type, model_group, error_type, "other")
    ERRORS.values[key] += 1
