"""A strict reader of Prometheus' text exposition format (0.0.4), for tests: it refuses what a Prometheus
server would refuse (bad names, bad escapes, samples before their TYPE, split families, duplicate series,
histograms whose buckets are not cumulative or lack +Inf or disagree with _count)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_SAMPLE = re.compile(rf"({_NAME})(\{{.*\}})? (\S+)(?: (-?\d+))?")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(AssertionError):
    pass


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, suffix: str = "", **labels: str) -> float:
        """The one sample `name+suffix` whose labels include `labels`."""
        found = [v for n, ls, v in self.samples if n == self.name + suffix and labels.items() <= ls.items()]
        if len(found) != 1:
            raise KeyError(f"{self.name}{suffix} {labels}: {len(found)} samples")
        return found[0]

    def total(self, suffix: str = "", **labels: str) -> float:
        """The sum over samples `name+suffix` whose labels include `labels` (0 when none)."""
        return sum(v for n, ls, v in self.samples if n == self.name + suffix and labels.items() <= ls.items())


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\\"n])", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _number(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise FormatError(f"not a number: {text!r}")
    return float(text)


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    inner, labels, position = text[1:-1], {}, 0
    while position < len(inner):
        match = _LABEL.match(inner, position)
        if match is None:
            raise FormatError(f"bad labels: {text!r}")
        if match.group(1) in labels:
            raise FormatError(f"label {match.group(1)} twice: {text!r}")
        labels[match.group(1)] = _unescape(match.group(2))
        position = match.end()
        if position < len(inner):
            if inner[position] != ",":
                raise FormatError(f"bad labels: {text!r}")
            position += 1
    return labels


def _family_of(sample: str, families: dict[str, Family]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample[: -len(suffix)]
        if sample.endswith(suffix) and base in families and families[base].type in ("histogram", "summary"):
            return base
    return sample


def parse(text: str) -> dict[str, Family]:
    if not text.endswith("\n"):
        raise FormatError("the exposition must end with a newline")
    families: dict[str, Family] = {}
    closed: set[str] = set()
    current: str | None = None
    seen: set[tuple[str, tuple]] = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(_NAME, name):
                    raise FormatError(f"bad metric name {name!r}")
                family = families.setdefault(name, Family(name))
                if name in closed or (family.samples and parts[1] == "TYPE"):
                    raise FormatError(f"{parts[1]} of {name} after its samples")
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in _TYPES:
                        raise FormatError(f"bad TYPE line {line!r}")
                    family.type = parts[3]
                else:
                    family.help = parts[3] if len(parts) == 4 else ""
                if current is not None and current != name:
                    closed.add(current)
                current = name
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            raise FormatError(f"bad sample line {line!r}")
        sample_name, labels = match.group(1), _labels(match.group(2))
        name = _family_of(sample_name, families)
        if name in closed:
            raise FormatError(f"samples of {name} are not together")
        if current is not None and current != name:
            closed.add(current)
        current = name
        key = (sample_name, tuple(sorted(labels.items())))
        if key in seen:
            raise FormatError(f"series twice: {line!r}")
        seen.add(key)
        family = families.setdefault(name, Family(name))
        value = _number(match.group(3))
        if family.type == "counter" and (value < 0 or math.isnan(value)):
            raise FormatError(f"negative counter {line!r}")
        family.samples.append((sample_name, labels, value))
    for family in families.values():
        if family.type == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: Family) -> None:
    series: dict[tuple, list[tuple[float, float]]] = {}
    counts: dict[tuple, float] = {}
    for name, labels, value in family.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if name == family.name + "_bucket":
            if "le" not in labels:
                raise FormatError(f"{name} without le")
            series.setdefault(rest, []).append((_number(labels["le"]), value))
        elif name == family.name + "_count":
            counts[rest] = value
        elif name != family.name + "_sum":
            raise FormatError(f"{name} in histogram {family.name}")
    for rest, buckets in series.items():
        bounds = [bound for bound, _ in buckets]
        if bounds != sorted(bounds) or bounds[-1] != math.inf:
            raise FormatError(f"{family.name}{dict(rest)}: buckets unsorted or without +Inf")
        values = [value for _, value in buckets]
        if values != sorted(values):
            raise FormatError(f"{family.name}{dict(rest)}: buckets not cumulative")
        if counts.get(rest) != values[-1]:
            raise FormatError(f"{family.name}{dict(rest)}: _count differs from the +Inf bucket")
