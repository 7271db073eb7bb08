"""The failover bench's answer: client-visible errors, requests that reached the failing deployment
(in all, and after its cooldown started), the half-open probes after the cooldown, and results.json."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.failover.client import Answer, MetricReading

MAX_FAILING_SHARE = 0.02  # of the first phase's requests
PROBES_EXPECTED = (1, 3)  # one half-open probe per cooldown; a race may let one or two more through
_QUIET_S = 1.0  # "the cooldown took effect": the failing fake then saw no request for this long


@dataclass
class Phase:
    name: str
    started: float  # time.monotonic()
    ended: float
    answers: list[Answer]
    failing_hits: list[float]  # when requests reached the failing fake during the phase
    failing_answers: list[float]  # when the failing fake answered them (500)
    metrics: list[MetricReading]
    # Failed attempts it takes to start a cooldown: allowed_fails, or 1 for a half-open probe.
    failures_to_cool: int

    @property
    def problems(self) -> list[Answer]:
        return [a for a in self.answers if a.problem is not None]

    def cooldown_bracket(self) -> tuple[float, float] | None:
        """(earliest, latest) moment the cooldown can have started: after the last /metrics scrape that
        did not show it and after the failing fake answered the failures it takes, before the first
        scrape that showed it."""
        base = self.metrics[0].cooldowns if self.metrics else 0.0
        answered = sorted(self.failing_answers)
        for index, reading in enumerate(self.metrics):
            if reading.cooldowns > base:
                lower = self.metrics[index - 1].sent if index else self.started
                if len(answered) >= self.failures_to_cool:
                    lower = max(lower, answered[self.failures_to_cool - 1])
                return lower, reading.received
        return None

    def quiet_from(self) -> float | None:
        """The first failing-fake arrival after which it saw nothing for more than _QUIET_S."""
        hits = sorted(self.failing_hits)
        for index, hit in enumerate(hits):
            following = hits[index + 1] if index + 1 < len(hits) else None
            if following is None or following - hit > _QUIET_S:
                return hit
        return None

    def summary(self) -> dict:
        latencies = sorted(a.latency_ms for a in self.answers)
        statuses: dict[str, int] = {}
        for a in self.answers:
            statuses[str(a.status)] = statuses.get(str(a.status), 0) + 1
        duration = self.ended - self.started
        failures = [m.upstream_failures for m in self.metrics]
        cooldowns = [m.cooldowns for m in self.metrics]
        row = {
            "requests": len(self.answers),
            "client_visible_errors": len(self.problems),
            "statuses": statuses,
            "duration_s": round(duration, 3),
            "requests_per_s": round(len(self.answers) / duration, 1) if duration else None,
            "latency_ms": {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99),
                           "max": round(latencies[-1], 2) if latencies else None},
            "failing_hits": len(self.failing_hits),
            "failing_hits_at_ms": [round((t - self.started) * 1000, 1) for t in sorted(self.failing_hits)],
            "failing_answered_at_ms": [round((t - self.started) * 1000, 1) for t in sorted(self.failing_answers)],
            "failing_share": len(self.failing_hits) / len(self.answers) if self.answers else None,
            # The gateway's own count of failed upstream attempts: should equal failing_hits.
            "upstream_failures_metric": failures[-1] - failures[0] if failures else None,
            "cooldowns_metric": {"before": cooldowns[0], "after": cooldowns[-1]} if cooldowns else None,
            "metric_scrapes": len(self.metrics),
            "problems": [asdict(a) for a in self.problems[:10]],
        }
        bracket = self.cooldown_bracket()
        if bracket:
            lower, upper = bracket
            row["cooldown_started_ms"] = {"after": round((lower - self.started) * 1000, 1),
                                          "before": round((upper - self.started) * 1000, 1)}
            # Counted from the earliest moment the cooldown may have started: an upper bound.
            after = [t for t in self.failing_hits if t >= lower]
            row["failing_hits_after_cooldown"] = len(after)
            row["failing_hits_after_cooldown_confirmed"] = len([t for t in self.failing_hits if t >= upper])
            row["failing_share_after_cooldown"] = len(after) / len(self.answers) if self.answers else None
        quiet = self.quiet_from()
        if quiet is not None:
            row["failing_fake_quiet_from_ms"] = round((quiet - self.started) * 1000, 1)
        return row


@dataclass
class FailoverResults:
    settings: dict
    phases: list[Phase] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def summarize(results: FailoverResults) -> dict:
    phases = {phase.name: phase.summary() for phase in results.phases}
    checks = []
    first = phases.get("load")
    if first:
        checks.append(_check("client-visible errors, first phase", first["client_visible_errors"],
                             first["client_visible_errors"] == 0, "0"))
        checks.append(_check("share of requests that reached the failing deployment, first phase",
                             f"{first['failing_share']:.2%} ({first['failing_hits']} of {first['requests']})",
                             first["failing_share"] < MAX_FAILING_SHARE, f"< {MAX_FAILING_SHARE:.0%}"))
        if "failing_hits_after_cooldown" in first:
            checks.append(_check("of them after the cooldown started (upper bound)",
                                 f"{first['failing_share_after_cooldown']:.2%} ({first['failing_hits_after_cooldown']})",
                                 first["failing_share_after_cooldown"] < MAX_FAILING_SHARE, f"< {MAX_FAILING_SHARE:.0%}"))
        else:
            checks.append(_check("cooldown seen on /metrics during the first phase", "no", False, "yes"))
    second = phases.get("after cooldown")
    if second:
        checks.append(_check("client-visible errors, after the cooldown", second["client_visible_errors"],
                             second["client_visible_errors"] == 0, "0"))
        low, high = PROBES_EXPECTED
        checks.append(_check("half-open probes that reached the failing deployment after the cooldown",
                             second["failing_hits"], low <= second["failing_hits"] <= high, f"{low}-{high}"))
    return {"phases": phases, "checks": checks}


def render(results: FailoverResults, summary: dict) -> str:
    lines = []
    for name, row in summary["phases"].items():
        lines.append(f"{name}: {row['requests']} requests in {row['duration_s']:.2f} s ({row['requests_per_s']} req/s), "
                     f"statuses {row['statuses']}, client-visible errors {row['client_visible_errors']}, "
                     f"latency p50 {row['latency_ms']['p50']} ms, p99 {row['latency_ms']['p99']} ms, "
                     f"max {row['latency_ms']['max']} ms")
        lines.append(f"    reached the failing deployment: {row['failing_hits']} "
                     f"({row['failing_share']:.2%}) at ms {row['failing_hits_at_ms']}; "
                     f"gateway's failed-attempt counter +{row['upstream_failures_metric']:g}, "
                     f"cooldown counter {row['cooldowns_metric']['before']:g} -> {row['cooldowns_metric']['after']:g}")
        if "cooldown_started_ms" in row:
            started = row["cooldown_started_ms"]
            lines.append(f"    cooldown started between {started['after']} and {started['before']} ms (the failing fake "
                         f"answered at ms {row['failing_answered_at_ms']}); requests to the failing deployment after "
                         f"the earlier bound: {row['failing_hits_after_cooldown']}, after the later: "
                         f"{row['failing_hits_after_cooldown_confirmed']}")
        if "failing_fake_quiet_from_ms" in row:
            lines.append(f"    the failing fake saw nothing for > {_QUIET_S:g} s from {row['failing_fake_quiet_from_ms']} ms on")
        for problem in row["problems"]:
            lines.append(f"    ! request {problem['index']}: HTTP {problem['status']}: {problem['problem']}")
    lines.append("Targets:")
    for check in summary["checks"]:
        lines.append(f"  [{'PASS' if check['passed'] else 'FAIL'}] {check['what']}: {check['value']} (target {check['target']})")
    lines += [f"warning: {warning}" for warning in results.warnings]
    lines += [f"FAILED: {failure}" for failure in results.failures]
    return "\n".join(lines)


def write_json(path: Path, results: FailoverResults, summary: dict) -> None:
    document = {
        "settings": results.settings,
        "summary": summary,
        "metric_readings": {phase.name: [asdict(m) | {"sent": round(m.sent - phase.started, 4),
                                                      "received": round(m.received - phase.started, 4)}
                                         for m in phase.metrics] for phase in results.phases},
        "warnings": results.warnings,
        "failures": results.failures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _check(what: str, value, passed: bool, target: str) -> dict:
    return {"what": what, "value": value, "passed": passed, "target": target}


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[percent - 1], 2)
