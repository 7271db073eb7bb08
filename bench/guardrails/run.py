"""Guardrails bench: the same 2 KB chat prompts through one gateway with guardrails off and on, as ratios
within one run.

    .venv/bin/python -m bench.guardrails.run [--duration 3] [--rounds 5] [--connections 16] ...

One `alchemi up` on core 0, the fake OpenAI upstream and wrk on core 1 (as bench/overhead). Accounts:
`off` (no guardrails), `on` (every secret and PII detector plus three custom patterns, action mask),
`on+answers` (the same, and scan_responses). Each round measures every target in turn (the order rotates)
with the same wrk load; prints req/s, the gateway's CPU per request and the median ratio over `off` per
mode; writes bench/.work/guardrails/results.json. See bench/guardrails/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.guardrails import engine
from bench.overhead import gateway
from bench.overhead.breakdown import GatewayProcesses, difference
from bench.overhead.cores import move_this_process_to_load_core, require_two_cores
from bench.overhead.load import Target, ensure_wrk, probe, run_load
from bench.overhead.measurement import Measurement, measure
from bench.overhead.processes import free_port, handle_stop_signals
from bench.overhead.upstream import start_fake_upstream
from bench.overhead.workload import MODEL, BadAnswer, Mode

BENCH_DIR = Path(__file__).resolve().parent
# Under bench/.work/ (git-ignored), like the other benches' logs/ and results.json are.
WORK_DIR = BENCH_DIR.parent / ".work" / "guardrails"
LOG_DIR = WORK_DIR / "logs"
RESULTS_FILE = WORK_DIR / "results.json"
MIN_RATIO = 0.90  # `on` req/s over `off` req/s, clean prompts, each mode
CLEAN, SECRETS = "clean prose", "prose + 2 emails, phone, 2 keys"  # bench/guardrails/engine.py's 2 KB prompts
# name → (account, prompt)
TARGETS = {
    "off": ("off", CLEAN),
    "on": ("on", CLEAN),
    "off, secrets": ("off", SECRETS),
    "on, secrets": ("on", SECRETS),
    "on+answers": ("on+answers", CLEAN),
}
# ratio label → (target, its baseline)
RATIOS = {"on/off": ("on", "off"), "on/off with secrets": ("on, secrets", "off, secrets"),
          "on+answers/off": ("on+answers", "off")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.guardrails.run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every target per mode (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per target and mode (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--modes", default="non-stream,stream", help="comma-separated, from: non-stream, stream")
    parser.add_argument("--gateway-binary", type=Path, default=gateway.DEFAULT_BINARY)
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    parser.add_argument("--headline", action="store_true",
                        help="measure only the headline pair (off and on, clean prompts): more rounds in the same time")
    args = parser.parse_args(argv)
    try:
        args.modes = [Mode(m.strip()) for m in args.modes.split(",") if m.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0 or args.connections < 1 or not args.modes:
        parser.error("--duration, --rounds and --connections must be >= 1, --warmup >= 0, --modes non-empty")
    return args


def chat_body(mode: Mode, prompt: str) -> bytes:
    body: dict = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
    if mode.streams:
        body.update(stream=True, stream_options={"include_usage": True})
    return json.dumps(body, separators=(",", ":")).encode()


def provision(admin: Target, upstream_url: str) -> dict[str, str]:
    """The three accounts, each with the bench model on the fake and a key; account name → key."""
    on = {"enabled": True, "action": "mask"}
    keys = {}
    for name in ("off", "on", "on+answers"):
        headers = gateway.tenant_headers(gateway.create_account(admin, f"guardrails-{name}"))
        gateway.create_model(admin, headers, upstream_url)
        keys[name], _ = gateway.create_key(admin, headers)
        if name == "off":
            continue
        for pattern in engine.CUSTOM:
            gateway.admin_call(admin, "POST", "/copilot/guardrails/patterns",
                               {"name": pattern.name, "pattern": pattern.pattern}, headers, expect=201)
        for guard_type in ("secret_detection", "pii", "custom_patterns"):
            gateway.admin_call(admin, "PUT", f"/copilot/guardrails/config/{guard_type}", on, headers)
        if name == "on+answers":
            gateway.admin_call(admin, "PUT", "/copilot/guardrails/config", {"scan_responses": True}, headers)
    return keys


@dataclass
class Round:
    mode: str
    index: int
    order: list[str]
    runs: dict[str, Measurement] = field(default_factory=dict)
    processes: dict[str, dict[str, float]] = field(default_factory=dict)  # target → role → CPU ms

    def rps(self, name: str) -> float:
        return self.runs[name].load.requests_per_s

    def cpu_ms(self, name: str, role: str | None = None) -> float | None:
        requests = self.runs[name].load.requests
        by_role = self.processes.get(name, {})
        if not requests or not by_role:
            return None
        return (by_role.get(role, 0.0) if role else sum(by_role.values())) / requests

    def ratio(self, label: str) -> float | None:
        target, baseline = RATIOS[label]
        return self.rps(target) / self.rps(baseline) if self.rps(baseline) else None

    def cpu_ratio(self, label: str) -> float | None:
        target, baseline = RATIOS[label]
        mine, theirs = self.cpu_ms(target), self.cpu_ms(baseline)
        return theirs / mine if mine and theirs else None


@dataclass
class Results:
    settings: dict
    rounds: list[Round] = field(default_factory=list)
    engine: dict = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_answers(targets: dict[str, Target], bodies: dict, modes: list[Mode], when: str, results: Results) -> None:
    for name, target in targets.items():
        for mode in modes:
            try:
                probe(target, mode, body=bodies[name, mode])
                results.checks[f"{when}: {name} {mode.value}"] = "ok"
            except BadAnswer as exc:
                results.checks[f"{when}: {name} {mode.value}"] = str(exc)[:300]


def bench(args: argparse.Namespace, results: Results) -> None:
    with ExitStack() as stack:
        fake, direct = start_fake_upstream(free_port(), log_dir=LOG_DIR)
        stack.callback(fake.stop)
        up, admin = stack.enter_context(gateway.running_gateway(
            args.gateway_binary, upstream_base_url="", log_dir=LOG_DIR, left_behind=results.warnings))
        keys = provision(admin, direct.base_url)
        targets = {name: Target(name, admin.base_url, token=keys[account], on_proxy_core=True)
                   for name, (account, _) in TARGETS.items()}
        bodies = {(name, mode): chat_body(mode, engine.PROMPTS[prompt])
                  for name, (_, prompt) in TARGETS.items() for mode in args.modes}
        check_answers(targets, bodies, args.modes, "before the load", results)
        processes = GatewayProcesses(up, gateway.service_urls(gateway.find_api_process(up, urlsplit(admin.base_url).port)))
        names = list(TARGETS)
        for mode in args.modes:
            for name in names if args.warmup else ():
                run_load(targets[name], mode, connections=args.connections, duration_s=args.warmup,
                         body=bodies[name, mode])
            for index in range(args.rounds):
                # A rotating order: a drift (a growing table, another program) favours no target.
                order = names[index % len(names):] + names[: index % len(names)]
                result = Round(mode.value, index, order)
                for name in order:
                    processes.wait_until_quiet()
                    before = processes.snapshot()
                    result.runs[name] = measure(targets[name], mode, connections=args.connections,
                                                duration_s=args.duration, body=bodies[name, mode],
                                                wait_quiet=processes.wait_until_quiet)
                    result.processes[name] = difference(processes.snapshot(), before)
                results.rounds.append(result)
                print(f"   {mode.value:<10} round {index + 1}: " + ", ".join(
                    f"{name} {result.rps(name):.0f}" for name in order) + "   " + ", ".join(
                    f"{label} {_percent(result.ratio(label))}" for label in RATIOS), flush=True)
        check_answers(targets, bodies, args.modes, "after the load", results)


def summarize(results: Results) -> dict:
    modes = {}
    for mode in results.settings["modes"]:
        rounds = [r for r in results.rounds if r.mode == mode]
        if not rounds:
            continue
        modes[mode] = {
            "requests_per_s": {n: _median([r.rps(n) for r in rounds]) for n in TARGETS},
            "gateway_cpu_ms_per_request": {n: _median([r.cpu_ms(n) for r in rounds]) for n in TARGETS},
            "api_cpu_ms_per_request": {n: _median([r.cpu_ms(n, "api") for r in rounds]) for n in TARGETS},
            "worker_cpu_ms_per_request": {n: _median([r.cpu_ms(n, "worker") for r in rounds]) for n in TARGETS},
            "ratios": {label: _median([r.ratio(label) for r in rounds]) for label in RATIOS},
            "ratios_by_round": {label: [r.ratio(label) for r in rounds] for label in RATIOS},
            "cpu_ratios": {label: _median([r.cpu_ratio(label) for r in rounds]) for label in RATIOS},
            "non_2xx_or_socket_errors": {n: sum(r.runs[n].load.error_count for r in rounds) for n in TARGETS},
        }
        row = modes[mode]
        row["meets_target"] = (row["ratios"]["on/off"] or 0) >= MIN_RATIO
    invalid = [f"{mode} {name}: {count} errors" for mode, row in modes.items()
               for name, count in row["non_2xx_or_socket_errors"].items() if count]
    invalid += [f"answer check {what}: {verdict}" for what, verdict in results.checks.items() if verdict != "ok"]
    return {"modes": modes, "invalid": invalid}


def render(results: Results, summary: dict) -> str:
    lines = [f"{'mode':<11}{'target':<14}{'req/s':>9}{'CPU ms/req':>12}{'api ms/req':>12}{'worker ms/req':>15}"
             f"{'errors':>8}"]
    for mode, row in summary["modes"].items():
        for name in TARGETS:
            lines.append(f"{mode:<11}{name:<14}{_num(row['requests_per_s'][name], 9, 1)}"
                         f"{_num(row['gateway_cpu_ms_per_request'][name], 12, 3)}"
                         f"{_num(row['api_cpu_ms_per_request'][name], 12, 3)}"
                         f"{_num(row['worker_cpu_ms_per_request'][name], 15, 3)}"
                         f"{row['non_2xx_or_socket_errors'][name]:>8}")
        for label in RATIOS:
            verdict = (" PASS" if row["meets_target"] else " FAIL") + f" (target >= {MIN_RATIO:.0%})" \
                if label == "on/off" else ""
            lines.append(f"{'':<4}{label} req/s {_percent(row['ratios'][label])}{verdict}; by gateway CPU per "
                         f"request {_percent(row['cpu_ratios'][label])}; rounds: "
                         + " ".join(_percent(v) for v in row["ratios_by_round"][label]))
        extra = _diff(row["api_cpu_ms_per_request"]["on"], row["api_cpu_ms_per_request"]["off"])
        scan_ms = results.engine.get(CLEAN, {}).get("scan_us", 0) / 1000
        if extra is not None:
            lines.append(f"{'':<4}guardrails cost in the API process: {extra:.3f} ms/req (on - off, clean prompt); "
                         f"the engine's scan of that prompt: {scan_ms:.3f} ms (bench/guardrails/engine.py, core 1)")
    lines += [f"INVALID: {problem}" for problem in summary["invalid"]]
    lines += [f"warning: {warning}" for warning in results.warnings]
    lines += [f"FAILED: {failure}" for failure in results.failures]
    return "\n".join(lines)


def write_json(path: Path, results: Results, summary: dict) -> None:
    document = {"settings": results.settings, "engine_us": results.engine, "answer_checks": results.checks,
                "summary": summary, "warnings": results.warnings, "failures": results.failures,
                "rounds": [{"mode": r.mode, "round": r.index, "order": r.order,
                            "ratios": {label: r.ratio(label) for label in RATIOS},
                            "runs": {n: m.as_json(on_proxy_core=True) for n, m in r.runs.items()},
                            "process_cpu_ms": r.processes} for r in results.rounds]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _settings(args: argparse.Namespace) -> dict:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {"duration_s": args.duration, "rounds": args.rounds, "warmup_s": args.warmup,
            "connections": args.connections, "modes": [m.value for m in args.modes],
            "prompt_chars": engine.PROMPT_BYTES, "custom_patterns": len(engine.CUSTOM),
            "wrk": wrk[0] if wrk else None, "python": platform.python_version(),
            "git": subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                                  cwd=BENCH_DIR).stdout.strip() or None,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main(argv: list[str] | None = None) -> int:
    global TARGETS, RATIOS
    args = parse_args(argv)
    if args.headline:
        TARGETS = {name: TARGETS[name] for name in ("off", "on")}
        RATIOS = {"on/off": RATIOS["on/off"]}
    handle_stop_signals()
    require_two_cores()
    ensure_wrk()
    move_this_process_to_load_core()
    results = Results(settings=_settings(args))
    started = time.monotonic()
    try:
        results.engine = engine.measure()  # on core 1, before the gateway starts
        bench(args, results)
    except Exception as exc:  # what was measured is still printed and written
        results.failures.append(f"{type(exc).__name__}: {exc}")
    results.settings["wall_time_s"] = round(time.monotonic() - started, 1)
    summary = summarize(results)
    print()
    print(render(results, summary))
    write_json(args.results, results, summary)
    print(f"\nResults: {args.results}   Logs: {LOG_DIR}/   Wall time: {results.settings['wall_time_s']} s")
    return 1 if results.failures or summary["invalid"] else 0


if __name__ == "__main__":
    sys.exit(main())
