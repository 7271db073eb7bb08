"""Overhead bench: the same wrk load against the fake upstream directly, our gateway and LiteLLM, in one run.

    .venv/bin/python -m bench.overhead.run [--duration 10] [--skip-litellm] [--skip-gateway] ...

Prints one table (req/s, gateway/LiteLLM and gateway/direct ratios, p50 latency, CPU ms per request on
the proxy core), the added p50 latency, the gateway API process's memory growth and the targets met or
missed; writes the same to bench/overhead/results.json. See bench/overhead/README.md.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from bench.overhead import gateway, litellm_proxy
from bench.overhead.cores import move_this_process_to_load_core, require_two_cores
from bench.overhead.load import Target, ensure_wrk, probe, run_load
from bench.overhead.measurement import measure
from bench.overhead.memory import RssReading, read_rss_at_checkpoints
from bench.overhead.paths import LOG_DIR, RESULTS_FILE
from bench.overhead.processes import free_port
from bench.overhead.report import BenchResults, render, summarize, write_json
from bench.overhead.upstream import start_fake_upstream
from bench.overhead.workload import Mode


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead.run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per target and mode (default 2)")
    parser.add_argument("--modes", default="non-stream,stream",
                        help="comma-separated, from: non-stream, stream (default both)")
    parser.add_argument("--connections", default="1,16", help="comma-separated wrk connection counts (default 1,16)")
    parser.add_argument("--skip-gateway", action="store_true", help="do not start or measure our gateway")
    parser.add_argument("--skip-litellm", action="store_true", help="do not install, start or measure LiteLLM")
    parser.add_argument("--skip-memory", action="store_true", help="skip the gateway RSS checkpoints (5,000 / 10,000 requests)")
    parser.add_argument("--gateway-binary", type=Path, default=gateway.DEFAULT_BINARY,
                        help=f"the `alchemi` command (default {gateway.DEFAULT_BINARY})")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help=f"JSON output (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    try:
        args.modes = [Mode(m.strip()) for m in args.modes.split(",") if m.strip()]
        args.connections = [int(c) for c in args.connections.split(",") if c.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if args.duration < 1 or args.warmup < 0 or not args.modes or not args.connections:
        parser.error("--duration must be >= 1, --warmup >= 0, and --modes/--connections non-empty")
    return args


class BenchRun:
    """The measurements of one run, target after target, with the failures of any target recorded, not raised."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results = BenchResults(settings=_settings(args))

    def measure_target(self, target: Target, *, api_process: psutil.Process | None = None) -> None:
        print(f"== {target.name}: {target.base_url}", flush=True)
        for mode in self.args.modes:
            probe(target, mode)
        watch_memory = api_process is not None and not self.args.skip_memory
        if watch_memory:
            # First, as the checkpoints are counts since start: the throughput runs alone, even the
            # warm-up, can pass 10,000 requests.
            self.read_memory_checkpoints(target, api_process)
        if self.args.warmup:
            for mode in self.args.modes:
                run_load(target, mode, connections=max(self.args.connections), duration_s=self.args.warmup)
        for mode in self.args.modes:
            for connections in self.args.connections:
                self.measure_once(target, mode, connections)
        if watch_memory:
            self.results.rss_after_all = RssReading(None, target.requests_sent, api_process.memory_info().rss)

    def read_memory_checkpoints(self, target: Target, api_process: psutil.Process) -> None:
        print(f"   memory: driving the API process (pid {api_process.pid}) to 5,000 and 10,000 requests", flush=True)
        self.results.api_process_pid = api_process.pid
        self.results.rss_readings = read_rss_at_checkpoints(target, api_process)

    def measure_once(self, target: Target, mode: Mode, connections: int) -> None:
        m = measure(target, mode, connections=connections, duration_s=self.args.duration)
        self.results.measurements.append(m)
        cpu = f", {m.cpu_ms_per_request:.3f} CPU ms/req on core 0" if target.on_proxy_core and m.cpu_ms_per_request else ""
        errors = f", ERRORS {m.load.errors}" if m.load.error_count else ""
        print(f"   {mode.value:<10} c={connections:<3} {m.load.requests_per_s:9.1f} req/s, "
              f"p50 {m.load.latency_us['p50'] / 1000:.2f} ms{cpu}{errors}", flush=True)

    def bench_gateway(self, upstream: Target) -> None:
        data_dir = Path(tempfile.mkdtemp(prefix="alchemi-bench-"))
        port = free_port()
        try:
            process, target = gateway.start_gateway(self.args.gateway_binary, port=port,
                                                    upstream_base_url=upstream.base_url, data_dir=data_dir)
            try:
                self.measure_target(target, api_process=gateway.find_api_process(process, port))
            finally:
                for leftover in gateway.stop_gateway(process, data_dir):
                    self.results.warnings.append(f"gateway shutdown: {leftover}")
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)

    def bench_litellm(self, litellm: Path, upstream: Target, work_dir: Path) -> None:
        process, target = litellm_proxy.start_litellm(litellm, port=free_port(), upstream_base_url=upstream.base_url,
                                                      work_dir=work_dir)
        try:
            self.measure_target(target)
        finally:
            process.stop(first_signal=signal.SIGINT, grace_s=15)

    def attempt(self, name: str, step) -> None:
        try:
            step()
        except Exception as exc:  # one target failing must not hide the others' numbers
            self.results.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            print(f"   {name} FAILED: {exc}", flush=True)


def _settings(args: argparse.Namespace) -> dict:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "modes": [m.value for m in args.modes],
        "connections": args.connections,
        "wrk": wrk_version[0] if wrk_version else None,
        "litellm_version": None if args.skip_litellm else litellm_proxy.LITELLM_VERSION,
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), None)
    except OSError:
        return None


def _exit_on_sigterm(signum, _frame) -> None:
    # Turned into SystemExit so that the ExitStack and finally blocks stop every child process.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGHUP, _exit_on_sigterm)
    # A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored across
    # exec: `alchemi up` and LiteLLM would then not stop on the SIGINT we send them. A handled one is
    # reset to the default in every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    require_two_cores()
    ensure_wrk()
    move_this_process_to_load_core()
    # Installed before anything is measured, so that pip never shares the machine with a measurement.
    litellm = None if args.skip_litellm else litellm_proxy.ensure_litellm_venv()
    run = BenchRun(args)
    started = time.monotonic()
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-overhead-")))
        fake, upstream = start_fake_upstream(free_port())
        stack.callback(fake.stop)
        run.measure_target(upstream)
        if not args.skip_gateway:
            run.attempt("gateway", lambda: run.bench_gateway(upstream))
        if litellm is not None:
            run.attempt("litellm", lambda: run.bench_litellm(litellm, upstream, work_dir))
    run.results.settings["wall_time_s"] = round(time.monotonic() - started, 1)
    summary = summarize(run.results)
    print()
    print(render(run.results, summary))
    write_json(args.results, run.results, summary)
    print(f"\nResults: {args.results}   Logs: {LOG_DIR}/   Wall time: {run.results.settings['wall_time_s']} s")
    return 1 if run.results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
