"""Memory growth of the gateway's API process: its RSS after 5,000 and after 10,000 requests in total.

Every request the bench sent to the gateway counts (set-up calls and answer checks too), as counted by
`Target.requests_sent`. The load alternates non-streamed and streamed requests so both paths run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import psutil

from bench.overhead.load import Target, run_load
from bench.overhead.workload import Mode

CHECKPOINTS = (5_000, 10_000)
_CONNECTIONS = 16
# A slow gateway that cannot reach a checkpoint within the budget is reported with the count it reached.
_PHASE_BUDGET_S = 150
_MAX_RUN_S = 60


@dataclass
class RssReading:
    checkpoint: int | None  # None for the reading at the end of the run
    requests: int  # requests sent when the RSS was read: the checkpoint, or fewer if the time budget ran out
    rss_bytes: int
    # Errors wrk counted on the way to this reading (non-2xx answers, socket errors): should be 0.
    wrk_errors: int = 0


def read_rss_at_checkpoints(target: Target, api_process: psutil.Process) -> list[RssReading]:
    readings = []
    deadline = time.monotonic() + _PHASE_BUDGET_S
    # wrk stops sending at BENCH_STOP_AFTER answers but still waits out its whole -d, so every run's
    # length is sized from the rate seen so far in that mode; unknown at first, hence a 1 s run.
    rates: dict[Mode, float] = {}
    for checkpoint in CHECKPOINTS:
        mode = Mode.NON_STREAMING
        errors = 0
        while target.requests_sent < checkpoint and time.monotonic() < deadline:
            remaining = checkpoint - target.requests_sent
            # Half of what is left in one mode, the rest in the other: both paths share every stretch.
            share = remaining if mode is Mode.STREAMING else max(1, remaining // 2)
            seconds = math.ceil(share / rates[mode] * 1.25) + 1 if mode in rates else 1
            seconds = min(seconds, _MAX_RUN_S, max(1, int(deadline - time.monotonic())))
            result = run_load(target, mode, connections=_CONNECTIONS, duration_s=seconds, stop_after=share)
            errors += result.error_count
            if result.requests < share and result.duration_s:
                # It ran the whole time, so this is the real rate (a run that reached its share idled).
                rates[mode] = max(result.requests / result.duration_s, 1.0)
            mode = Mode.STREAMING if mode is Mode.NON_STREAMING else Mode.NON_STREAMING
        readings.append(RssReading(checkpoint, target.requests_sent, api_process.memory_info().rss, errors))
    return readings


def growth_percent(readings: list[RssReading]) -> float | None:
    if len(readings) < 2 or not readings[0].rss_bytes:
        return None
    return (readings[-1].rss_bytes - readings[0].rss_bytes) * 100 / readings[0].rss_bytes
