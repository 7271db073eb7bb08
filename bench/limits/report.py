"""The limits bench's answer: per mode, req/s and CPU per request of both keys, the all/none ratios, checks."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench.overhead.measurement import Measurement

MIN_RATIO = 0.85  # all/none req/s
KEYS = ("none", "all")


@dataclass
class Round:
    """One "none" and one "all" measurement, back to back with the same duration and mode."""

    mode: str
    index: int
    first: str  # which key ran first: the order alternates from round to round
    none: Measurement
    all: Measurement
    # key → role → CPU ms the gateway's own processes used over that measurement (run and drain)
    processes: dict[str, dict[str, float]] = field(default_factory=dict)

    def requests_per_s(self, key: str) -> float:
        return getattr(self, key).load.requests_per_s

    def core_ms_per_request(self, key: str) -> float | None:
        """Core 0's busy time per request (as bench/overhead): includes whatever else ran on core 0."""
        return getattr(self, key).cpu_ms_per_request

    def process_ms_per_request(self, key: str) -> dict[str, float]:
        requests = getattr(self, key).load.requests
        return {role: ms / requests for role, ms in self.processes.get(key, {}).items()} if requests else {}

    def gateway_ms_per_request(self, key: str) -> float | None:
        """CPU of the gateway's own processes per request: blind to other programs on core 0."""
        by_role = self.process_ms_per_request(key)
        return sum(by_role.values()) if by_role else None

    @property
    def ratio(self) -> float | None:
        return _ratio(self.requests_per_s("all"), self.requests_per_s("none"))


@dataclass
class LimitsResults:
    settings: dict
    idle_busy_percent: dict[str, float] = field(default_factory=dict)
    levels: dict[str, dict[str, bool]] = field(default_factory=dict)  # key name → level → counter seen
    rounds: list[Round] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def summarize(results: LimitsResults) -> dict:
    modes: dict[str, dict] = {}
    for mode in results.settings["modes"]:
        rounds = [r for r in results.rounds if r.mode == mode]
        if not rounds:
            continue
        ratio = _median([r.ratio for r in rounds])
        modes[mode] = {
            "rounds": len(rounds),
            "ratio_all_over_none": ratio,
            "ratios": [r.ratio for r in rounds],
            "requests_per_s": {key: _median([r.requests_per_s(key) for r in rounds]) for key in KEYS},
            "gateway_cpu_ms_per_request": {key: _median([r.gateway_ms_per_request(key) for r in rounds]) for key in KEYS},
            "gateway_cpu_ratio_all_over_none": _median(
                [_ratio(r.gateway_ms_per_request("all"), r.gateway_ms_per_request("none")) for r in rounds]),
            "process_cpu_ms_per_request": {key: _median_by_role([r.process_ms_per_request(key) for r in rounds])
                                           for key in KEYS},
            "core0_busy_ms_per_request": {key: _median([r.core_ms_per_request(key) for r in rounds]) for key in KEYS},
            "non_2xx": {key: sum(getattr(r, key).load.errors["status"] for r in rounds) for key in KEYS},
            "socket_errors": {key: sum(getattr(r, key).load.error_count - getattr(r, key).load.errors["status"]
                                       for r in rounds) for key in KEYS},
            "not_quiet": sum(not (m.started_quiet and m.drained) for r in rounds for m in (r.none, r.all)),
            "meets_target": ratio is not None and ratio >= MIN_RATIO,
        }
    invalid = []
    for mode, row in modes.items():
        for key in KEYS:
            if row["non_2xx"][key] or row["socket_errors"][key]:
                invalid.append(f"{mode}, key {key}: {row['non_2xx'][key]} non-2xx answers, "
                               f"{row['socket_errors'][key]} socket errors")
    missing = [level for level, seen in results.levels.get("all", {}).items() if not seen]
    if missing:
        invalid.append(f"key all: no admission counters in Redis for level(s) {', '.join(missing)}")
    unexpected = [level for level, seen in results.levels.get("none", {}).items() if seen]
    if unexpected:
        invalid.append(f"key none: admission counters in Redis for level(s) {', '.join(unexpected)}")
    return {"modes": modes, "invalid": invalid}


def render(results: LimitsResults, summary: dict) -> str:
    idle = results.idle_busy_percent
    lines = [
        "core 0 busy when idle: " + ", ".join(f"{value:.1f} % {label}" for label, value in idle.items()),
        "",
        f"{'mode':<11}{'key':<6}{'req/s':>9}{'CPU ms/req':>12}{'core-0 ms/req':>15}{'non-2xx':>9}",
    ]
    for mode, row in summary["modes"].items():
        for key in KEYS:
            lines.append(f"{mode:<11}{key:<6}{_num(row['requests_per_s'][key], 9, 1)}"
                         f"{_num(row['gateway_cpu_ms_per_request'][key], 12, 3)}"
                         f"{_num(row['core0_busy_ms_per_request'][key], 15, 3)}{row['non_2xx'][key]:>9}")
        verdict = "PASS" if row["meets_target"] else "FAIL"
        lines.append(f"{'':<4}all/none req/s {_percent(row['ratio_all_over_none'])} {verdict} "
                     f"(target >= {MIN_RATIO:.0%}; rounds: {' '.join(_percent(r) for r in row['ratios'])})")
        cpu_ratio = row["gateway_cpu_ratio_all_over_none"]
        lines.append(f"{'':<4}all/none CPU ms/req {'-' if cpu_ratio is None else f'{cpu_ratio:.2f}x'}; by process: "
                     + ", ".join(f"{role} {_num(row['process_cpu_ms_per_request']['none'].get(role), 0, 3)} -> "
                                 f"{_num(row['process_cpu_ms_per_request']['all'].get(role), 0, 3)}"
                                 for role in row["process_cpu_ms_per_request"]["all"] if role != "supervisor"))
        if row["not_quiet"]:
            lines.append(f"{'':<4}{row['not_quiet']} run(s) began or ended with core 0 still busy")
    levels = results.levels.get("all", {})
    if levels:
        lines += ["", "admission counters of key all in Redis: "
                  + ", ".join(f"{level} {'yes' if seen else 'NO'}" for level, seen in levels.items())]
    lines += [f"INVALID: {problem}" for problem in summary["invalid"]]
    lines += [f"warning: {warning}" for warning in results.warnings]
    lines += [f"FAILED: {failure}" for failure in results.failures]
    return "\n".join(lines)


def write_json(path: Path, results: LimitsResults, summary: dict) -> None:
    document = {
        "settings": results.settings,
        "idle_busy_percent": {k: round(v, 2) for k, v in results.idle_busy_percent.items()},
        "levels_with_counters": results.levels,
        "summary": summary,
        "rounds": [{"mode": r.mode, "round": r.index, "first": r.first, "ratio": r.ratio,
                    "none": r.none.as_json(on_proxy_core=True), "all": r.all.as_json(on_proxy_core=True),
                    "process_cpu_ms": r.processes}
                   for r in results.rounds],
        "warnings": results.warnings,
        "failures": results.failures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _median_by_role(readings: list[dict[str, float]]) -> dict[str, float | None]:
    roles = sorted({role for reading in readings for role in reading})
    return {role: _median([reading.get(role) for reading in readings]) for role in roles}


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
