"""One measurement: a wrk run at one concurrency and mode, with the proxy core's busy time around it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

from bench.overhead.cores import PROXY_CORE, busy_ms, wait_until_quiet
from bench.overhead.load import LoadResult, Target, run_load
from bench.overhead.workload import Mode

# A worker draining a backlog (usage records) after a saturating run can take a while; bounded so
# the whole bench stays within minutes.
_DRAIN_TIMEOUT_S = 30.0


@dataclass
class Measurement:
    target: str
    mode: Mode
    connections: int
    load: LoadResult
    # Busy time of the proxy core while wrk ran, and after it until the core was quiet again.
    window_busy_ms: float
    drain_busy_ms: float
    # Seconds spent after wrk ended until the proxy core was quiet: work the requests caused later.
    drain_s: float
    # False when the proxy core was still busy when the bench stopped waiting (CPU is then undercounted).
    drained: bool
    # False when the proxy core was still busy when the run started (left-over work, charged to this run).
    started_quiet: bool

    @property
    def cpu_ms_per_request(self) -> float | None:
        if not self.load.requests:
            return None
        return (self.window_busy_ms + self.drain_busy_ms) / self.load.requests

    def as_json(self, *, on_proxy_core: bool) -> dict:
        load = asdict(self.load)
        load.pop("wrk_stderr")
        return {
            "target": self.target,
            "mode": self.mode.value,
            "connections": self.connections,
            "requests_per_s": round(self.load.requests_per_s, 1),
            **load,
            "proxy_core_busy_ms": {"during_run": round(self.window_busy_ms, 1), "after_run": round(self.drain_busy_ms, 1)},
            # For the direct target this is background noise on the proxy core, not a cost.
            "cpu_ms_per_request": round(self.cpu_ms_per_request, 4) if on_proxy_core and self.cpu_ms_per_request else None,
            "drain_s": round(self.drain_s, 2),
            "drained": self.drained,
            "started_quiet": self.started_quiet,
        }


def measure(target: Target, mode: Mode, *, connections: int, duration_s: int, body: bytes | None = None,
            wait_quiet: Callable[..., bool] | None = None) -> Measurement:
    """wait_quiet(timeout_s=...) decides when the proxy is idle before and after the run: by default
    core 0 as a whole; a bench sharing the machine can watch the proxy's own processes instead."""
    quiet = wait_quiet or partial(wait_until_quiet, PROXY_CORE)
    started_quiet = quiet()
    before = busy_ms(PROXY_CORE)
    load = run_load(target, mode, connections=connections, duration_s=duration_s, body=body)
    ended = busy_ms(PROXY_CORE)
    drain_started = time.monotonic()
    drained = quiet(timeout_s=_DRAIN_TIMEOUT_S)
    drain_s = time.monotonic() - drain_started
    return Measurement(
        target=target.name, mode=mode, connections=connections, load=load,
        window_busy_ms=ended - before, drain_busy_ms=busy_ms(PROXY_CORE) - ended,
        drain_s=drain_s, drained=drained, started_quiet=started_quiet,
    )
