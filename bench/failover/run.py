"""Failover bench: one model name on two deployments, a healthy fake and one that answers 500, under
load with the default router settings.

    .venv/bin/python -m bench.failover.run [--requests 1000] [--concurrency 16] [--wait 35] ...

First phase: `--requests` chat requests, `--concurrency` at a time, while /metrics is scraped for the
cooldown counter. Second phase, `--wait` seconds after the cooldown started (so after it ended):
`--second-requests` more. Prints client-visible errors, the requests that reached the failing
deployment (in all and after the cooldown started), the half-open probes of the second phase;
writes bench/failover/results.json. See bench/failover/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from app.gateway.routing.settings import RouterSettings
from bench.failover.client import load_while_watching
from bench.failover.failing_upstream import FAILING_MODEL, Timed, failing_upstream
from bench.failover.report import FailoverResults, Phase, render, summarize, write_json
from bench.overhead import gateway
from bench.overhead.cores import move_this_process_to_load_core, require_two_cores
from bench.overhead.processes import free_port, handle_stop_signals
from bench.overhead.upstream import start_fake_upstream
from bench.overhead.workload import Mode, chat_body

BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR / "logs"
RESULTS_FILE = BENCH_DIR / "results.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.failover.run", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests of the first phase (default 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--wait", type=float, default=35.0,
                        help="seconds from the cooldown's start to the second phase (default 35; cooldown_time is 30)")
    parser.add_argument("--second-requests", type=int, default=200, help="requests of the second phase (default 200)")
    parser.add_argument("--scrape-interval", type=float, default=0.02, help="seconds between /metrics scrapes (default 0.02)")
    parser.add_argument("--gateway-binary", type=Path, default=gateway.DEFAULT_BINARY,
                        help=f"the `alchemi` command (default {gateway.DEFAULT_BINARY})")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help=f"JSON output (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.second_requests < 0 or args.wait < 0 or args.scrape_interval <= 0:
        parser.error("--requests and --concurrency must be >= 1, --second-requests and --wait >= 0, "
                     "--scrape-interval > 0")
    return args


def run_phase(name: str, args: argparse.Namespace, base_url: str, key: str, failing: Timed, *, count: int,
              failures_to_cool: int) -> Phase:
    body = chat_body(Mode.NON_STREAMING)
    started = time.monotonic()
    answers, metrics = asyncio.run(load_while_watching(base_url, key, body, count=count, concurrency=args.concurrency,
                                                       interval_s=args.scrape_interval))
    ended = time.monotonic()
    phase = Phase(name, started, ended, answers, failing.arrivals_between(started, ended),
                  failing.answers_between(started, ended), metrics, failures_to_cool)
    print(f"   {name}: {len(answers)} requests in {ended - started:.2f} s, {len(phase.problems)} client-visible errors, "
          f"{len(phase.failing_hits)} reached the failing deployment", flush=True)
    return phase


def bench(args: argparse.Namespace, results: FailoverResults) -> None:
    with ExitStack() as stack:
        healthy, healthy_target = start_fake_upstream(free_port(), log_dir=LOG_DIR)
        stack.callback(healthy.stop)
        server, failing = failing_upstream()
        stack.enter_context(server)
        _, admin = stack.enter_context(gateway.running_gateway(
            args.gateway_binary, upstream_base_url=healthy_target.base_url, log_dir=LOG_DIR,
            left_behind=results.warnings))
        headers = gateway.tenant_headers(gateway.create_account(admin, "failover"))
        gateway.create_model(admin, headers, healthy_target.base_url)
        gateway.create_model(admin, headers, "", model=f"openai/{FAILING_MODEL}", api_base=f"{server.url}/v1")
        key, _ = gateway.create_key(admin, headers)
        print(f"== gateway {admin.base_url}: healthy fake {healthy_target.base_url}, failing fake {server.url}",
              flush=True)
        first = run_phase("load", args, admin.base_url, key, failing, count=args.requests,
                          failures_to_cool=RouterSettings().allowed_fails)
        results.phases.append(first)
        bracket = first.cooldown_bracket()
        if bracket is None:
            results.warnings.append("the cooldown counter did not go up during the first phase; "
                                    f"the second phase starts {args.wait:g} s after the first ended")
        # From the latest moment the cooldown can have started, so that it is surely over.
        resume_at = (bracket[1] if bracket else first.ended) + args.wait
        print(f"   waiting {max(0.0, resume_at - time.monotonic()):.1f} s for the cooldown to end", flush=True)
        time.sleep(max(0.0, resume_at - time.monotonic()))
        if args.second_requests:
            # There a single failed probe starts the next cooldown.
            results.phases.append(run_phase("after cooldown", args, admin.base_url, key, failing,
                                            count=args.second_requests, failures_to_cool=1))


def _settings(args: argparse.Namespace) -> dict:
    defaults = RouterSettings()
    return {
        "requests": args.requests, "concurrency": args.concurrency, "wait_s": args.wait,
        "second_requests": args.second_requests, "scrape_interval_s": args.scrape_interval,
        # The defaults the gateway applies to an account that never set /router/settings.
        "router_settings": {name: getattr(defaults, name) for name in RouterSettings.__struct_fields__},
        "python": platform.python_version(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        # The code measured: other work in progress in the same tree shows as "-dirty".
        "git": subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=BENCH_DIR).stdout.strip() or None,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handle_stop_signals()
    require_two_cores()
    move_this_process_to_load_core()
    results = FailoverResults(settings=_settings(args))
    started = time.monotonic()
    try:
        bench(args, results)
    except Exception as exc:  # what was measured so far is still printed and written
        results.failures.append(f"{type(exc).__name__}: {exc}")
    results.settings["wall_time_s"] = round(time.monotonic() - started, 1)
    summary = summarize(results)
    print()
    print(render(results, summary))
    write_json(args.results, results, summary)
    print(f"\nResults: {args.results}   Logs: {LOG_DIR}/   Wall time: {results.settings['wall_time_s']} s")
    return 1 if results.failures or not all(check["passed"] for check in summary["checks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
