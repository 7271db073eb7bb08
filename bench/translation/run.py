"""Translation bench: the same OpenAI-format chat request through one gateway to an OpenAI-compatible,
an Anthropic and a Gemini upstream, as ratios within one run.

    .venv/bin/python -m bench.translation.run [--duration 3] [--rounds 9] [--connections 16] ...

Three model names in one account, one deployment each, on three fakes answering the same text.
The three are measured in turn with the same wrk load (the order rotates every round); prints req/s
and CPU per request of each and the median anthropic/openai and gemini/openai ratios per mode;
writes bench/translation/results.json. See bench/translation/README.md.
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

import psutil

from bench.overhead import gateway
from bench.overhead.breakdown import GatewayProcesses, difference
from bench.overhead.cores import (PROXY_CORE, busy_percent, move_this_process_to_load_core, require_two_cores,
                                  task_ms)
from bench.overhead.load import Target, ensure_wrk, probe, run_load
from bench.overhead.measurement import measure
from bench.overhead.processes import handle_stop_signals
from bench.overhead.workload import BadAnswer, Mode, chat_body
from bench.translation.report import UPSTREAMS, Round, TranslationResults, render, summarize, write_json
from bench.translation.upstreams import Upstream, running_upstreams

BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR / "logs"
RESULTS_FILE = BENCH_DIR / "results.json"
# Anthropic requires max_tokens; the Anthropic and Gemini fakes cut their 20-word answer at it.
MAX_TOKENS = 64
_IDLE_WINDOW_S = 3.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.translation.run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement (default 3)")
    parser.add_argument("--rounds", type=int, default=9, help="openai/anthropic/gemini triples per mode (default 9)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per upstream and mode (default 2)")
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


def provision(admin: Target, upstreams: list[Upstream]) -> str:
    """One account, a deployment per upstream under its own model name, a key for all three; the key."""
    headers = gateway.tenant_headers(gateway.create_account(admin, "translation"))
    for upstream in upstreams:
        gateway.create_model(admin, headers, "", model_name=upstream.model_name, **upstream.litellm_params)
    key, _ = gateway.create_key(admin, headers, models=[u.model_name for u in upstreams])
    return key


def check_answers(targets: dict[str, Target], bodies: dict[tuple[str, Mode], bytes], modes: list[Mode]) -> dict:
    """One request per upstream and mode, its answer checked (status, the fake's full text, usage)."""
    verdicts: dict[str, dict[str, str]] = {}
    for name, target in targets.items():
        for mode in modes:
            try:
                probe(target, mode, body=bodies[name, mode])
                verdicts.setdefault(name, {})[mode.value] = "ok"
            except BadAnswer as exc:
                verdicts.setdefault(name, {})[mode.value] = str(exc)[:500]
    return verdicts


def bench(args: argparse.Namespace, results: TranslationResults) -> None:
    results.idle_busy_percent["before the gateway started"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)
    with ExitStack() as stack:
        upstreams = stack.enter_context(running_upstreams(LOG_DIR))
        # provision=False: the bench makes its own three deployments, so no upstream URL is needed here.
        up, admin = stack.enter_context(gateway.running_gateway(
            args.gateway_binary, upstream_base_url="", log_dir=LOG_DIR, left_behind=results.warnings))
        key = provision(admin, upstreams)
        targets = {u.name: Target(u.name, admin.base_url, token=key, on_proxy_core=True) for u in upstreams}
        bodies = {(u.name, mode): chat_body(mode, max_tokens=MAX_TOKENS, model=u.model_name)
                  for u in upstreams for mode in args.modes}
        fakes = {u.name: psutil.Process(u.pid) for u in upstreams}
        results.answer_checks["before the load"] = check_answers(targets, bodies, args.modes)
        urls = gateway.service_urls(gateway.find_api_process(up, urlsplit(admin.base_url).port))
        processes = GatewayProcesses(up, urls)
        processes.wait_until_quiet()
        results.idle_busy_percent["with the gateway up, no load"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)
        for mode in args.modes:
            if args.warmup:
                for name, target in targets.items():
                    run_load(target, mode, connections=args.connections, duration_s=args.warmup, body=bodies[name, mode])
            for index in range(args.rounds):
                # Rotating who goes first cancels a drift (another process, a growing table) that would
                # otherwise always favour the same upstream.
                order = [UPSTREAMS[(index + i) % len(UPSTREAMS)] for i in range(len(UPSTREAMS))]
                result = Round(mode.value, index, order, runs={})
                for name in order:
                    processes.wait_until_quiet()  # left-over work is then not charged to this run
                    before, fake_before = processes.snapshot(), _cpu_ms(fakes[name])
                    task_before, wall_before = task_ms(PROXY_CORE), time.monotonic()
                    result.runs[name] = measure(targets[name], mode, connections=args.connections,
                                                duration_s=args.duration, body=bodies[name, mode],
                                                wait_quiet=processes.wait_until_quiet)
                    result.processes[name] = difference(processes.snapshot(), before)
                    result.core_task_ms[name] = (task_ms(PROXY_CORE) - task_before,
                                                 (time.monotonic() - wall_before) * 1000)
                    result.fake_cpu_ms[name] = _cpu_ms(fakes[name]) - fake_before
                results.rounds.append(result)
                print_round(result)
        results.answer_checks["after the load"] = check_answers(targets, bodies, args.modes)
        processes.wait_until_quiet()
        results.idle_busy_percent["with the gateway up, after the runs"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)


def _cpu_ms(process: psutil.Process) -> float:
    times = process.cpu_times()
    return (times.user + times.system) * 1000


def print_round(r: Round) -> None:
    parts = []
    for name in r.order:
        m = r.runs[name]
        cpu = r.gateway_ms_per_request(name)
        errors = f" ERRORS {m.load.errors}" if m.load.error_count else ""
        foreign = r.foreign_percent(name)
        parts.append(f"{name} {m.load.requests_per_s:7.1f} req/s {'-' if cpu is None else f'{cpu:.3f}'} ms"
                     f" ({'-' if foreign is None else f'{foreign:.0f}'} % foreign){errors}")
    ratios = " ".join(f"{name}/openai {'-' if r.ratio(name) is None else f'{r.ratio(name):.1%}'}"
                      for name in UPSTREAMS[1:])
    print(f"   {r.mode:<10} round {r.index + 1}: " + ", ".join(parts) + f"   {ratios}", flush=True)


def _settings(args: argparse.Namespace) -> dict:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "duration_s": args.duration, "rounds": args.rounds, "warmup_s": args.warmup,
        "connections": args.connections, "modes": [m.value for m in args.modes], "max_tokens": MAX_TOKENS,
        "wrk": wrk_version[0] if wrk_version else None, "python": platform.python_version(),
        # The code measured: other work in progress in the same tree shows as "-dirty".
        "git": subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=BENCH_DIR).stdout.strip() or None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handle_stop_signals()
    require_two_cores()
    ensure_wrk()
    move_this_process_to_load_core()
    results = TranslationResults(settings=_settings(args))
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
