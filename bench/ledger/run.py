"""Ledger bench: exactly N chat requests at concurrency C, then every 2xx answer's ledger row, once.

    .venv/bin/python -m bench.ledger.run [--requests 5000] [--concurrency 64] [--mode mixed] [--with-limits]

One gateway (`alchemi up`), one key in its own account. Prints requests sent, 2xx answers, the
account's ledger rows, duplicates, answers without a row, and the seconds from the last answer until
the last row landed and the arq queue `alchemi:usage` was empty; writes bench/ledger/results.json.
See bench/ledger/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from bench.ledger.client import LoadOutcome, request_bytes, send_exactly
from bench.ledger.report import LedgerResults, render, summarize, write_json
from bench.ledger.settling import audit, wait_for_ledger
from bench.limits.tenants import provision_limited
from bench.overhead import gateway
from bench.overhead.breakdown import GatewayProcesses, difference
from bench.overhead.cores import PROXY_CORE, busy_ms, busy_percent, move_this_process_to_load_core, require_two_cores
from bench.overhead.load import Target, probe
from bench.overhead.processes import free_port, handle_stop_signals
from bench.overhead.upstream import start_fake_upstream
from bench.overhead.workload import Mode, chat_body

BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR / "logs"
RESULTS_FILE = BENCH_DIR / "results.json"
MAX_TOKENS = 5  # as in bench/limits: with --with-limits, budgets reserve for 5 output tokens, not 4,096
_IDLE_WINDOW_S = 3.0
MODES = ("mixed", "non-stream", "stream")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger.run", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="chat requests to send (default 5000)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections, one request each at a time (default 64)")
    parser.add_argument("--mode", choices=MODES, default="mixed",
                        help="mixed (every other request streamed, the default), non-stream or stream")
    parser.add_argument("--with-limits", action="store_true",
                        help="the key of bench/limits' 'all' tenant: budgets and limits on every level")
    parser.add_argument("--settle-timeout", type=float, default=120.0,
                        help="seconds to wait for the ledger after the load (default 120)")
    parser.add_argument("--gateway-binary", type=Path, default=gateway.DEFAULT_BINARY,
                        help=f"the `alchemi` command (default {gateway.DEFAULT_BINARY})")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help=f"JSON output (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.settle_timeout <= 0:
        parser.error("--requests and --concurrency must be >= 1, --settle-timeout > 0")
    return args


def bench(args: argparse.Namespace, results: LedgerResults) -> None:
    results.idle_busy_percent["before the gateway started"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)
    with ExitStack() as stack:
        fake, upstream = start_fake_upstream(free_port(), log_dir=LOG_DIR)
        stack.callback(fake.stop)
        up, admin = stack.enter_context(gateway.running_gateway(
            args.gateway_binary, upstream_base_url=upstream.base_url, log_dir=LOG_DIR, left_behind=results.warnings))
        # The answer checks go through an account of their own, so the measured account's ledger
        # holds the load's rows and nothing else.
        checker = gateway.provision_tenant(admin, upstream.base_url, name="bench-probe")
        for mode in Mode:
            probe(Target("probe", admin.base_url, checker.key, on_proxy_core=True), mode,
                  body=chat_body(mode, max_tokens=MAX_TOKENS))
        if args.with_limits:
            tenant = provision_limited(admin, upstream.base_url).tenant
        else:
            tenant = gateway.provision_tenant(admin, upstream.base_url, name="bench-ledger")
        results.account_id = tenant.account_id
        urls = gateway.service_urls(gateway.find_api_process(up, urlsplit(admin.base_url).port))
        processes = GatewayProcesses(up, urls)
        processes.wait_until_quiet()
        results.idle_busy_percent["with the gateway up, no load"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)
        asyncio.run(load_and_settle(args, results, admin.base_url, tenant, urls, processes))
        processes.wait_until_quiet()
        results.idle_busy_percent["with the gateway up, after the run"] = busy_percent(PROXY_CORE, _IDLE_WINDOW_S)


async def load_and_settle(args: argparse.Namespace, results: LedgerResults, base_url: str, tenant: gateway.Tenant,
                          urls: gateway.ServiceUrls, processes: GatewayProcesses) -> None:
    key, account_id, key_id = tenant.key, tenant.account_id, tenant.key_id
    address = urlsplit(base_url)
    wire = {mode: request_bytes(address.hostname, address.port, "/v1/chat/completions", key,
                                chat_body(mode, max_tokens=MAX_TOKENS)) for mode in Mode}
    pick = {"mixed": lambda i: wire[Mode.STREAMING if i % 2 else Mode.NON_STREAMING],
            "non-stream": lambda i: wire[Mode.NON_STREAMING], "stream": lambda i: wire[Mode.STREAMING]}[args.mode]
    busy_before, used_before = busy_ms(PROXY_CORE), processes.snapshot()
    print(f"   sending {args.requests} requests ({args.mode}) over {args.concurrency} connections ...", flush=True)
    outcome: LoadOutcome = await send_exactly(address.hostname, address.port, pick, args.requests, args.concurrency)
    busy_at_end, used_at_end = busy_ms(PROXY_CORE), processes.snapshot()
    results.load = outcome
    print(f"   {len(outcome.answers)} answers in {outcome.duration_s:.1f} s; waiting for the ledger ...", flush=True)
    results.settling = await wait_for_ledger(urls.database_url, urls.redis_url, account_id, len(outcome.ok),
                                             load_ended=outcome.ended, timeout_s=args.settle_timeout)
    results.core_busy_ms = {"during_load": busy_at_end - busy_before, "until_settled": busy_ms(PROXY_CORE) - busy_at_end}
    results.process_cpu_ms = {"during_load": difference(used_at_end, used_before),
                              "until_settled": difference(processes.snapshot(), used_at_end)}
    results.audit = await audit(urls.database_url, account_id, key_id,
                                [a.request_id for a in outcome.ok if a.request_id])


def _settings(args: argparse.Namespace) -> dict:
    return {
        "requests": args.requests, "concurrency": args.concurrency, "mode": args.mode, "with_limits": args.with_limits,
        "max_tokens": MAX_TOKENS, "settle_timeout_s": args.settle_timeout, "python": platform.python_version(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handle_stop_signals()
    require_two_cores()
    # The client, the fake upstream and this script share the load core; the gateway has core 0.
    move_this_process_to_load_core()
    results = LedgerResults(settings=_settings(args))
    started = time.monotonic()
    try:
        bench(args, results)
    except Exception as exc:  # what was measured is still printed and written
        results.failures.append(f"{type(exc).__name__}: {exc}")
    results.settings["wall_time_s"] = round(time.monotonic() - started, 1)
    summary = summarize(results)
    print()
    print(render(results, summary))
    write_json(args.results, results, summary)
    print(f"\nResults: {args.results}   Logs: {LOG_DIR}/   Wall time: {results.settings['wall_time_s']} s")
    return 0 if summary["valid"] and not results.failures else 1


if __name__ == "__main__":
    sys.exit(main())
