"""Memory growth of the gateway's API process: its RSS after 5,000 and after 10,000 requests in total.

Every request the bench sent to the gateway counts (set-up calls, probes, warm-up), as counted by
`Target.requests_sent`. The load alternates non-streamed and streamed requests so both paths run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from bench.overhead.load import Target, run_load
from bench.overhead.workload import Mode

CHECKPOINTS = (5_000, 10_000)
_CONNECTIONS = 16
# Per wrk run; a gateway too slow to reach a checkpoint in time is reported with the count it reached.
_RUN_CAP_S = 60
_PHASE_BUDGET_S = 150


@dataclass
class RssReading:
    checkpoint: int
    requests: int  # requests actually sent when the RSS was read (wrk stops a few past the checkpoint)
    rss_bytes: int


def read_rss_at_checkpoints(target: Target, api_process: psutil.Process) -> list[RssReading]:
    readings = []
    deadline = time.monotonic() + _PHASE_BUDGET_S
    for checkpoint in CHECKPOINTS:
        mode = Mode.NON_STREAMING
        while target.requests_sent < checkpoint and time.monotonic() < deadline:
            remaining = checkpoint - target.requests_sent
            # Half of what is left in one mode, the rest in the other: both paths share every stretch.
            share = remaining if mode is Mode.STREAMING else max(1, remaining // 2)
            seconds_left = max(1, int(deadline - time.monotonic()))
            run_load(target, mode, connections=_CONNECTIONS, duration_s=min(_RUN_CAP_S, seconds_left), stop_after=share)
            mode = Mode.STREAMING if mode is Mode.NON_STREAMING else Mode.NON_STREAMING
        readings.append(RssReading(checkpoint, target.requests_sent, api_process.memory_info().rss))
    return readings


def growth_percent(readings: list[RssReading]) -> float | None:
    if len(readings) < 2 or not readings[0].rss_bytes:
        return None
    return (readings[-1].rss_bytes - readings[0].rss_bytes) * 100 / readings[0].rss_bytes
