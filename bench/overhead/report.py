"""The bench's answer: one table of req/s, ratios, latency and CPU per request, the targets checked, and results.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.overhead.measurement import Measurement
from bench.overhead.memory import RssReading, growth_percent
from bench.overhead.workload import Mode

# The goals the gateway is held to.
MIN_RATIO_TO_LITELLM = 10.0
RATIO_CONNECTIONS = 16
MAX_ADDED_P50_MS = 1.0
LATENCY_CONNECTIONS = 1
MAX_RSS_GROWTH_PERCENT = 10.0

_TARGETS = ("direct", "gateway", "litellm")
_FOREIGN_LOAD_PERCENT = 5.0
_MIB = 1024 * 1024


@dataclass
class BenchResults:
    settings: dict
    measurements: list[Measurement] = field(default_factory=list)
    rss_readings: list[RssReading] = field(default_factory=list)
    # RSS of the API process after the throughput runs too, with the request count then.
    rss_after_all: RssReading | None = None
    api_process_pid: int | None = None
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def find(self, target: str, mode: Mode, connections: int) -> Measurement | None:
        return next((m for m in self.measurements
                     if m.target == target and m.mode is mode and m.connections == connections), None)


def summarize(results: BenchResults) -> dict:
    """The derived numbers (ratios, added latency, memory growth) and whether each target is met."""
    modes = [Mode(m) for m in results.settings["modes"]]
    ratios, added_p50, checks = [], [], []
    for mode in modes:
        for connections in results.settings["connections"]:
            direct, gateway, litellm = (results.find(t, mode, connections) for t in _TARGETS)
            ratios.append({
                "mode": mode.value, "connections": connections,
                "gateway_over_litellm": _ratio(gateway, litellm),
                "gateway_over_direct": _ratio(gateway, direct),
                "litellm_over_direct": _ratio(litellm, direct),
            })
            if connections == RATIO_CONNECTIONS and gateway and litellm:
                value = _ratio(gateway, litellm)
                checks.append(_check(f"gateway/LiteLLM req/s, {mode.value}, {connections} connections",
                                     f"{value:.1f}x", value >= MIN_RATIO_TO_LITELLM, f">= {MIN_RATIO_TO_LITELLM:.0f}x"))
        direct = results.find("direct", mode, LATENCY_CONNECTIONS)
        if direct:
            row = {"mode": mode.value, "connections": LATENCY_CONNECTIONS}
            for name in ("gateway", "litellm"):
                proxy = results.find(name, mode, LATENCY_CONNECTIONS)
                row[f"{name}_ms"] = _ms(proxy.load.latency_us["p50"] - direct.load.latency_us["p50"]) if proxy else None
            added_p50.append(row)
            if row["gateway_ms"] is not None:
                checks.append(_check(f"added p50 latency, {mode.value}, {LATENCY_CONNECTIONS} connection",
                                     f"{row['gateway_ms']:.3f} ms", row["gateway_ms"] <= MAX_ADDED_P50_MS,
                                     f"<= {MAX_ADDED_P50_MS:g} ms"))
    growth = growth_percent(results.rss_readings)
    if growth is not None:
        checks.append(_check("API process RSS growth between the checkpoints", f"{growth:+.1f} %",
                             growth <= MAX_RSS_GROWTH_PERCENT, f"<= {MAX_RSS_GROWTH_PERCENT:g} %"))
    return {
        "ratios": ratios,
        "added_p50_latency_ms": added_p50,
        "memory": {
            "api_process_pid": results.api_process_pid,
            "readings": [asdict(r) for r in results.rss_readings],
            "growth_percent": round(growth, 2) if growth is not None else None,
            "after_all_requests": asdict(results.rss_after_all) if results.rss_after_all else None,
        },
        "checks": checks,
    }


def render(results: BenchResults, summary: dict) -> str:
    lines = [_table(results), ""]
    lines += _error_notes(results)
    lines.append(f"Added p50 latency at {LATENCY_CONNECTIONS} connection (proxy p50 - direct p50):")
    for row in summary["added_p50_latency_ms"]:
        lines.append(f"  {row['mode']:<11} gateway {_fmt(row['gateway_ms'], '+.3f', ' ms')}   "
                     f"LiteLLM {_fmt(row['litellm_ms'], '+.3f', ' ms')}")
    memory = summary["memory"]
    if memory["readings"]:
        lines.append(f"Memory of the gateway API process (pid {memory['api_process_pid']}), RSS:")
        for reading in memory["readings"]:
            errors = f"   ! wrk counted {reading['wrk_errors']} errors on the way" if reading["wrk_errors"] else ""
            lines.append(f"  after {reading['requests']:>7,} requests (checkpoint {reading['checkpoint']:,}): "
                         f"{reading['rss_bytes'] / _MIB:7.1f} MiB{errors}")
        if memory["after_all_requests"]:
            after = memory["after_all_requests"]
            lines.append(f"  after {after['requests']:>7,} requests (end of the run):     {after['rss_bytes'] / _MIB:7.1f} MiB")
        lines.append(f"  growth between the checkpoints: {_fmt(memory['growth_percent'], '+.1f', ' %')}")
    lines.append("Targets:")
    if not summary["checks"]:
        lines.append("  none could be checked (the gateway, LiteLLM or a mode/concurrency was not measured)")
    for check in summary["checks"]:
        lines.append(f"  [{'PASS' if check['passed'] else 'FAIL'}] {check['what']}: {check['value']} (target {check['target']})")
    for warning in results.warnings:
        lines.append(f"Warning: {warning}")
    for failure in results.failures:
        lines.append(f"FAILED: {failure}")
    return "\n".join(lines)


def write_json(path: Path, results: BenchResults, summary: dict) -> None:
    on_proxy_core = {"direct": False, "gateway": True, "litellm": True}
    document = {
        "settings": results.settings,
        "measurements": [m.as_json(on_proxy_core=on_proxy_core[m.target]) for m in results.measurements],
        "summary": summary,
        "warnings": results.warnings,
        "failures": results.failures,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def _table(results: BenchResults) -> str:
    header = [
        f"{'':17}| {'req/s':^29} | {'gateway / ...':^15} | {'p50 latency ms':^26} | {'CPU ms/req, core 0':^19}",
        f"{'mode':<11}{'conns':>6}| {'direct':>9}{'gateway':>10}{'litellm':>10} | {'litellm':>7}{'direct':>8} | "
        f"{'direct':>8}{'gateway':>9}{'litellm':>9} | {'gateway':>9}{'litellm':>10}",
    ]
    rows = []
    for mode in (Mode(m) for m in results.settings["modes"]):
        for connections in results.settings["connections"]:
            direct, gateway, litellm = (results.find(t, mode, connections) for t in _TARGETS)
            rows.append(
                f"{mode.value:<11}{connections:>6}| {_rps(direct):>9}{_rps(gateway):>10}{_rps(litellm):>10} | "
                f"{_fmt(_ratio(gateway, litellm), '.1f', 'x'):>7}{_fmt(_ratio(gateway, direct), '.2f', 'x'):>8} | "
                f"{_p50(direct):>8}{_p50(gateway):>9}{_p50(litellm):>9} | {_cpu(gateway):>9}{_cpu(litellm):>10}"
            )
    rule = "-" * len(header[1])
    return "\n".join([rule, *header, rule, *rows, rule])


def _error_notes(results: BenchResults) -> list[str]:
    notes = []
    for m in results.measurements:
        if m.load.error_count:
            notes.append(f"! {m.target} {m.mode.value} c={m.connections}: wrk counted errors {m.load.errors} "
                         f"in {m.load.requests} requests; its req/s is not a valid result")
        if m.target == "direct" and m.load.duration_s:
            # Nothing of ours runs on core 0 during a direct run: whatever is busy there is a stranger.
            busy = m.window_busy_ms / (m.load.duration_s * 10)
            if busy > _FOREIGN_LOAD_PERCENT:
                notes.append(f"~ core 0 was {busy:.0f} % busy during the direct {m.mode.value} c={m.connections} run: "
                             f"another process is using the proxy core, so proxy numbers are unreliable")
        if not m.started_quiet and m.target != "direct":
            notes.append(f"~ {m.target} {m.mode.value} c={m.connections}: core 0 was still busy when the run started "
                         f"(its CPU ms/req includes left-over work)")
        if not m.drained and m.target != "direct":
            notes.append(f"~ {m.target} {m.mode.value} c={m.connections}: core 0 was still busy {m.drain_s:.0f} s after the run "
                         f"(its CPU ms/req misses the rest of that work)")
    return notes


def _check(what: str, value: str, passed: bool, target: str) -> dict:
    return {"what": what, "value": value, "passed": passed, "target": target}


def _ratio(numerator: Measurement | None, denominator: Measurement | None) -> float | None:
    if not numerator or not denominator or not denominator.load.requests_per_s:
        return None
    return round(numerator.load.requests_per_s / denominator.load.requests_per_s, 3)


def _ms(microseconds: float) -> float:
    return round(microseconds / 1000, 3)


def _rps(m: Measurement | None) -> str:
    if not m:
        return "-"
    return f"{m.load.requests_per_s:.0f}{'!' if m.load.error_count else ''}"


def _p50(m: Measurement | None) -> str:
    return _fmt(_ms(m.load.latency_us["p50"]) if m else None, ".2f")


def _cpu(m: Measurement | None) -> str:
    return _fmt(m.cpu_ms_per_request if m else None, ".3f")


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"
