"""The translation bench's answer: per mode, req/s and CPU per request through each upstream, the
anthropic/openai and gemini/openai ratios (median of the rounds), the checks, and results.json."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench.overhead.measurement import Measurement

MIN_RATIO = 0.80  # translated upstream req/s over OpenAI-compatible req/s
QUIET_PERCENT = 10.0  # a round is "quiet" when other programs used less of core 0 than this in each run
BASELINE = "openai"
UPSTREAMS = ("openai", "anthropic", "gemini")
TRANSLATED = ("anthropic", "gemini")


@dataclass
class Round:
    """One measurement per upstream, back to back with the same duration and mode; the order rotates."""

    mode: str
    index: int
    order: list[str]
    runs: dict[str, Measurement]
    # upstream → role → CPU ms the gateway's own processes used over that measurement (run and drain)
    processes: dict[str, dict[str, float]] = field(default_factory=dict)
    # upstream → CPU ms of that upstream's fake process (on the load core) over that measurement
    fake_cpu_ms: dict[str, float] = field(default_factory=dict)
    # upstream → (ms core 0 ran tasks, wall ms) over the same span as `processes`
    core_task_ms: dict[str, tuple[float, float]] = field(default_factory=dict)

    def requests_per_s(self, upstream: str) -> float:
        return self.runs[upstream].load.requests_per_s

    def ratio(self, upstream: str) -> float | None:
        return _ratio(self.requests_per_s(upstream), self.requests_per_s(BASELINE))

    def core_ms_per_request(self, upstream: str) -> float | None:
        """Core 0's busy time per request (as bench/overhead): includes whatever else ran on core 0."""
        return self.runs[upstream].cpu_ms_per_request

    def core_busy_percent(self, upstream: str) -> float | None:
        """How busy core 0 was while wrk ran: near 100 % means the gateway, not the fakes, set the pace."""
        m = self.runs[upstream]
        return m.window_busy_ms / (m.load.duration_s * 10) if m.load.duration_s else None

    def process_ms_per_request(self, upstream: str) -> dict[str, float]:
        requests = self.runs[upstream].load.requests
        return {role: ms / requests for role, ms in self.processes.get(upstream, {}).items()} if requests else {}

    def gateway_ms_per_request(self, upstream: str) -> float | None:
        """CPU of the gateway's own processes per request: blind to other programs on core 0."""
        by_role = self.process_ms_per_request(upstream)
        return sum(by_role.values()) if by_role else None

    def cpu_ratio(self, upstream: str) -> float | None:
        """OpenAI's gateway CPU per request over this upstream's: the req/s ratio a gateway with its core
        to itself would show, unmoved by other programs that take turns on core 0."""
        return _ratio(self.gateway_ms_per_request(BASELINE), self.gateway_ms_per_request(upstream))

    def foreign_percent(self, upstream: str) -> float | None:
        """Share of core 0 that other programs ran on it over this measurement (core 0's task time minus
        the gateway's own processes): the noise this run's req/s carries."""
        if upstream not in self.core_task_ms or upstream not in self.processes:
            return None
        task_ms, wall_ms = self.core_task_ms[upstream]
        gateway_ms = sum(self.processes[upstream].values())
        return max(0.0, task_ms - gateway_ms) * 100 / wall_ms if wall_ms else None

    def quiet(self, limit_percent: float) -> bool:
        shares = [self.foreign_percent(name) for name in UPSTREAMS]
        return all(share is not None and share < limit_percent for share in shares)

    def fake_ms_per_request(self, upstream: str) -> float | None:
        requests = self.runs[upstream].load.requests
        return self.fake_cpu_ms[upstream] / requests if requests and upstream in self.fake_cpu_ms else None


@dataclass
class TranslationResults:
    settings: dict
    idle_busy_percent: dict[str, float] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)
    # "before the load" / "after the load" → upstream → mode → "ok" or what was wrong with the answer
    answer_checks: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def summarize(results: TranslationResults) -> dict:
    modes: dict[str, dict] = {}
    for mode in results.settings["modes"]:
        rounds = [r for r in results.rounds if r.mode == mode]
        if not rounds:
            continue
        ratios = {name: [r.ratio(name) for r in rounds] for name in TRANSLATED}
        median_ratios = {name: _median(values) for name, values in ratios.items()}
        quiet = [r for r in rounds if r.quiet(QUIET_PERCENT)]
        modes[mode] = {
            "rounds": len(rounds),
            "ratio_over_openai": median_ratios,
            "ratios": ratios,
            "cpu_ratio_over_openai": {name: _median([r.cpu_ratio(name) for r in rounds]) for name in TRANSLATED},
            "quiet_rounds": [r.index for r in quiet],
            "ratio_over_openai_quiet_rounds": {name: _median([r.ratio(name) for r in quiet]) for name in TRANSLATED},
            "foreign_core0_percent": {name: _median([r.foreign_percent(name) for r in rounds]) for name in UPSTREAMS},
            "meets_target": {name: ratio is not None and ratio >= MIN_RATIO for name, ratio in median_ratios.items()},
            "requests_per_s": {name: _median([r.requests_per_s(name) for r in rounds]) for name in UPSTREAMS},
            "gateway_cpu_ms_per_request": {name: _median([r.gateway_ms_per_request(name) for r in rounds])
                                           for name in UPSTREAMS},
            "process_cpu_ms_per_request": {name: _median_by_role([r.process_ms_per_request(name) for r in rounds])
                                           for name in UPSTREAMS},
            "core0_busy_ms_per_request": {name: _median([r.core_ms_per_request(name) for r in rounds])
                                          for name in UPSTREAMS},
            "core0_busy_percent_during_run": {name: _median([r.core_busy_percent(name) for r in rounds])
                                              for name in UPSTREAMS},
            "fake_cpu_ms_per_request": {name: _median([r.fake_ms_per_request(name) for r in rounds])
                                        for name in UPSTREAMS},
            "requests": {name: sum(r.runs[name].load.requests for r in rounds) for name in UPSTREAMS},
            "non_2xx": {name: sum(r.runs[name].load.errors["status"] for r in rounds) for name in UPSTREAMS},
            "socket_errors": {name: sum(r.runs[name].load.error_count - r.runs[name].load.errors["status"]
                                        for r in rounds) for name in UPSTREAMS},
            "not_quiet": sum(not (m.started_quiet and m.drained) for r in rounds for m in r.runs.values()),
        }
    invalid = []
    for mode, row in modes.items():
        for name in UPSTREAMS:
            if row["non_2xx"][name] or row["socket_errors"][name]:
                invalid.append(f"{mode}, {name}: {row['non_2xx'][name]} non-2xx answers, "
                               f"{row['socket_errors'][name]} socket errors")
    for when, by_upstream in results.answer_checks.items():
        for name, by_mode in by_upstream.items():
            invalid += [f"answer check {when}, {name} {mode}: {verdict}"
                        for mode, verdict in by_mode.items() if verdict != "ok"]
    return {"modes": modes, "invalid": invalid}


def render(results: TranslationResults, summary: dict) -> str:
    idle = results.idle_busy_percent
    lines = [
        "core 0 busy when idle: " + ", ".join(f"{value:.1f} % {label}" for label, value in idle.items()),
        "",
        f"{'mode':<11}{'upstream':<10}{'req/s':>9}{'/openai':>9}{'CPU ms/req':>12}{'core-0 ms/req':>15}"
        f"{'core-0 busy':>13}{'foreign':>9}{'fake ms/req':>13}{'requests':>10}{'non-2xx':>9}",
    ]
    for mode, row in summary["modes"].items():
        for name in UPSTREAMS:
            ratio = row["ratio_over_openai"].get(name)
            busy = row["core0_busy_percent_during_run"][name]
            lines.append(f"{mode:<11}{name:<10}{_num(row['requests_per_s'][name], 9, 1)}"
                         f"{'' if name == BASELINE else _percent(ratio):>9}"
                         f"{_num(row['gateway_cpu_ms_per_request'][name], 12, 3)}"
                         f"{_num(row['core0_busy_ms_per_request'][name], 15, 3)}"
                         f"{'-' if busy is None else f'{busy:.0f} %':>13}"
                         f"{_whole_percent(row['foreign_core0_percent'][name]):>9}"
                         f"{_num(row['fake_cpu_ms_per_request'][name], 13, 3)}"
                         f"{row['requests'][name]:>10}{row['non_2xx'][name]:>9}")
        for name in TRANSLATED:
            verdict = "PASS" if row["meets_target"][name] else "FAIL"
            lines.append(f"{'':<4}{name}/openai req/s {_percent(row['ratio_over_openai'][name])} {verdict} "
                         f"(target >= {MIN_RATIO:.0%}; rounds: {' '.join(_percent(r) for r in row['ratios'][name])}); "
                         f"by gateway CPU per request {_percent(row['cpu_ratio_over_openai'][name])}; "
                         f"req/s in the {len(row['quiet_rounds'])} quiet round(s) "
                         f"{_percent(row['ratio_over_openai_quiet_rounds'][name])}")
        lines.append(f"{'':<4}CPU ms/req by process: " + "; ".join(
            f"{name} " + ", ".join(f"{role} {_num(ms, 0, 3)}" for role, ms in row["process_cpu_ms_per_request"][name].items()
                                   if role != "supervisor")
            for name in UPSTREAMS))
        if row["not_quiet"]:
            lines.append(f"{'':<4}{row['not_quiet']} run(s) began or ended with the gateway still busy")
    for when, by_upstream in results.answer_checks.items():
        verdicts = [verdict for by_mode in by_upstream.values() for verdict in by_mode.values()]
        if verdicts and all(v == "ok" for v in verdicts):
            lines.append(f"answers {when}: text and usage right from every upstream, both modes")
    lines += [f"INVALID: {problem}" for problem in summary["invalid"]]
    lines += [f"warning: {warning}" for warning in results.warnings]
    lines += [f"FAILED: {failure}" for failure in results.failures]
    return "\n".join(lines)


def write_json(path: Path, results: TranslationResults, summary: dict) -> None:
    document = {
        "settings": results.settings,
        "idle_busy_percent": {k: round(v, 2) for k, v in results.idle_busy_percent.items()},
        "answer_checks": results.answer_checks,
        "summary": summary,
        "rounds": [{"mode": r.mode, "round": r.index, "order": r.order,
                    "ratios": {name: r.ratio(name) for name in TRANSLATED},
                    "cpu_ratios": {name: r.cpu_ratio(name) for name in TRANSLATED},
                    "foreign_core0_percent": {name: r.foreign_percent(name) for name in UPSTREAMS},
                    "runs": {name: m.as_json(on_proxy_core=True) for name, m in r.runs.items()},
                    "process_cpu_ms": r.processes, "fake_cpu_ms": r.fake_cpu_ms}
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


def _whole_percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
