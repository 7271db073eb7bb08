"""Limits bench: what admission and settlement on every level cost, as a ratio within one run.

    .venv/bin/python -m bench.limits.run [--duration 5] [--rounds 5] [--connections 16] ...

One gateway, two keys in two accounts on the same fake upstream: "none" (no budget or limit
anywhere) and "all" (budgets and limits on key, user, team, organization, account and deployment).
The two are measured alternately with the same wrk load; prints req/s and CPU per request of each
and the median all/none ratio per mode; writes bench/limits/results.json. See bench/limits/README.md.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from bench.limits.report import LimitsResults, Round, render, summarize, write_json
from bench.limits.tenants import levels_with_counters, provision_limited, provision_unlimited
from bench.overhead import gateway
from bench.overhead.breakdown import GatewayProcesses, difference
from bench.overhead.cores import PROXY_CORE, busy_percent, move_this_process_to_load_core, require_two_cores
from bench.overhead.load import Target, ensure_wrk, probe, run_load
from bench.overhead.measurement import measure
from bench.overhead.processes import free_port, handle_stop_signals
from bench.overhead.upstream import start_fake_upstream
from bench.overhead.workload import Mode, chat_body

BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR / "logs"
RESULTS_FILE = BENCH_DIR / "results.json"
# Budgets reserve the worst-case cost: without max_tokens that is 4,096 output tokens per request.
MAX_TOKENS = 5
_IDLE_WINDOW_S = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.limits.run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="none/all pairs per mode (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per key and mode (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--modes", default="non-stream,stream", help="comma-separated, from: non-stream, stream")
    parser.add_argument("--gateway-binary", type=Path, default=gateway.DEFAULT_BINARY,
                        help=f"the `alchemi` command (default {gateway.DEFAULT_BINARY})")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help=f"JSON output (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    try:
        args.modes = [Mode(m.strip()) for m in args.modes.split(",") if m.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0 or args.connections < 1 or not args.modes:
        parser.error("--duration, --rounds and --connections must be >= 1, --warmup >= 0, --modes non-empty")
    return args


def bench(args: argparse.Namespace, results: LimitsResults) -> None:
    results.idle_busy_percent["before the gateway started"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)
    with ExitStack() as stack:
        fake, upstream = start_fake_upstream(free_port(), log_dir=LOG_DIR)
        stack.callback(fake.stop)
        up, admin = stack.enter_context(gateway.running_gateway(
            args.gateway_binary, upstream_base_url=upstream.base_url, log_dir=LOG_DIR, left_behind=results.warnings))
        tenants = [provision_unlimited(admin, upstream.base_url), provision_limited(admin, upstream.base_url)]
        keys = {t.name: Target(t.name, admin.base_url, token=t.tenant.key, on_proxy_core=True) for t in tenants}
        bodies = {mode: chat_body(mode, max_tokens=MAX_TOKENS) for mode in args.modes}
        for mode in args.modes:
            for key in keys.values():
                probe(key, mode, body=bodies[mode])
        urls = gateway.service_urls(gateway.find_api_process(up, urlsplit(admin.base_url).port))
        for tenant in tenants:
            # Right after the probes, within their minute, so the per-minute counters still exist.
            results.levels[tenant.name] = levels_with_counters(urls.redis_url, tenant)
        processes = GatewayProcesses(up, urls)
        processes.wait_until_quiet()
        results.idle_busy_percent["with the gateway up, no load"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)
        for mode in args.modes:
            for key in keys.values():
                if args.warmup:
                    run_load(key, mode, connections=args.connections, duration_s=args.warmup, body=bodies[mode])
            for index in range(args.rounds):
                result = measure_round(keys, mode, index, args, bodies[mode], processes)
                results.rounds.append(result)
                print_round(result)
        processes.wait_until_quiet()
        results.idle_busy_percent["with the gateway up, after the runs"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)


def measure_round(keys: dict[str, Target], mode: Mode, index: int, args: argparse.Namespace, body: bytes,
                  processes: GatewayProcesses) -> Round:
    # Alternating which key goes first cancels a drift (another program, a growing table) that
    # would otherwise always favour the same key.
    order = ("none", "all") if index % 2 == 0 else ("all", "none")
    runs, used = {}, {}
    for name in order:
        processes.wait_until_quiet()  # left-over work is then not charged to this run
        before = processes.snapshot()
        runs[name] = measure(keys[name], mode, connections=args.connections, duration_s=args.duration, body=body,
                             wait_quiet=processes.wait_until_quiet)
        used[name] = difference(processes.snapshot(), before)
    return Round(mode.value, index, order[0], none=runs["none"], all=runs["all"], processes=used)


def print_round(r: Round) -> None:
    parts = []
    for name in (r.first, "all" if r.first == "none" else "none"):
        m = getattr(r, name)
        cpu = r.gateway_ms_per_request(name)
        errors = f" ERRORS {m.load.errors}" if m.load.error_count else ""
        parts.append(f"{name} {m.load.requests_per_s:7.1f} req/s {'-' if cpu is None else f'{cpu:.3f}'} CPU ms/req{errors}")
    ratio = f"{r.ratio:.1%}" if r.ratio is not None else "-"
    print(f"   {r.mode:<10} round {r.index + 1}: " + ", ".join(parts) + f"  all/none {ratio}", flush=True)


def _settings(args: argparse.Namespace) -> dict:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "duration_s": args.duration, "rounds": args.rounds, "warmup_s": args.warmup,
        "connections": args.connections, "modes": [m.value for m in args.modes], "max_tokens": MAX_TOKENS,
        "wrk": wrk_version[0] if wrk_version else None, "python": platform.python_version(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handle_stop_signals()
    require_two_cores()
    ensure_wrk()
    move_this_process_to_load_core()
    results = LimitsResults(settings=_settings(args))
    started = time.monotonic()
    try:
        bench(args, results)
    except Exception as exc:  # the numbers measured so far are still printed and written
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
