"""In-process Prometheus metrics: counters and gauges rendered in the text exposition format.

Counting is a dict increment, cheap enough for the hot path; `/metrics` renders on demand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{name}="{_escape(value)}"' for name, value in zip(names, values))
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Counter:
    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labels = name, help_text, labels
        self.values: dict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        self.values[label_values] += amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_labels(self.labels, key)} {value}" for key, value in self.values.items()]
        return lines


class Gauge:
    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help_text, read

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {self.read()}"]


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Counter | Gauge] = {}

    def register(self, metric: Counter | Gauge) -> Counter | Gauge:
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics.values():
            lines += metric.render()
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
REQUESTS = REGISTRY.register(Counter(
    "alchemi_requests_total", "Data-plane requests by call type, model group and outcome",
    ("call_type", "model_group", "status")))
