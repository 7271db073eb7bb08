"""Which core runs what, and how busy the proxy's core was.

The proxy under test (our gateway or LiteLLM) and every process it starts run on core 0; the fake
upstream, wrk and this script run on core 1. Core 0's busy time divided by the requests served is
then the proxy's CPU cost per request, its PostgreSQL, Redis and workers included.
"""

from __future__ import annotations

import os
import time

PROXY_CORE = 0
LOAD_CORE = 1

# /proc/stat counts in USER_HZ ticks (100 per second on Linux), so one tick is 10 ms.
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class CoreLayoutError(RuntimeError):
    """The machine does not have the two cores the bench pins processes to."""


def require_two_cores() -> None:
    allowed = os.sched_getaffinity(0)
    if not {PROXY_CORE, LOAD_CORE} <= allowed:
        raise CoreLayoutError(
            f"the bench needs cores {PROXY_CORE} and {LOAD_CORE} (proxy / load); this process may use {sorted(allowed)}"
        )


def move_this_process_to_load_core() -> None:
    # Keeps our own polling and bookkeeping off the core whose busy time we charge to the proxy.
    os.sched_setaffinity(0, {LOAD_CORE})


def pinned(core: int, argv: list[str]) -> list[str]:
    """The command line that runs argv on one core; taskset execs, so the pid stays argv's."""
    return ["taskset", "-c", str(core), *argv]


def busy_ms(core: int) -> float:
    """Milliseconds core `core` has spent busy since boot: user+nice+system+irq+softirq+steal."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = _cpu_ticks(core)
    return (user + nice + system + irq + softirq + steal) * 1000 / _TICKS_PER_SECOND


def task_ms(core: int) -> float:
    """Milliseconds core `core` has spent running tasks since boot (user+nice+system): unlike busy_ms
    without interrupt handling, so it compares with the CPU times processes report for themselves."""
    user, nice, system = _cpu_ticks(core)[:3]
    return (user + nice + system) * 1000 / _TICKS_PER_SECOND


def _cpu_ticks(core: int) -> list[int]:
    """The first eight counters of core `core`'s line in /proc/stat, in ticks."""
    prefix = f"cpu{core} "
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith(prefix):
                return list(map(int, line.split()[1:9]))
    raise CoreLayoutError(f"/proc/stat has no line for cpu{core}")


def wait_until_quiet(core: int, *, window_s: float = 0.3, max_busy_fraction: float = 0.1, timeout_s: float = 15.0) -> bool:
    """Wait until `core` is nearly idle for one window; False if it never was within timeout_s.

    Used before a measurement, so that left-over work (a worker draining usage records) is not
    charged to it, and after one, so that work the requests caused later is charged to them.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        before = busy_ms(core)
        time.sleep(window_s)
        if busy_ms(core) - before <= window_s * 1000 * max_busy_fraction:
            return True
        if time.monotonic() >= deadline:
            return False


def busy_percent(core: int, seconds: float) -> float:
    """How busy `core` was over the next `seconds`, in percent: the noise floor a run is read against."""
    before = busy_ms(core)
    time.sleep(seconds)
    return (busy_ms(core) - before) * 100 / (seconds * 1000)
