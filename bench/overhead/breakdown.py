"""Which of the gateway's processes spent the proxy core's time: API, worker, Redis, PostgreSQL.

Read from each process's own CPU counters (user + system), so unlike the core's busy time it does
not include other programs that happen to run on core 0.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import psutil

from bench.overhead.gateway import ServiceUrls
from bench.overhead.processes import ManagedProcess

ROLES = ("api", "worker", "redis", "postgres", "supervisor")


Snapshot = dict[str, dict[int, float]]  # role → pid → CPU ms used since the process started


class GatewayProcesses:
    """The processes of one `alchemi up`, by role; PostgreSQL's backends are looked up at each snapshot."""

    def __init__(self, up: ManagedProcess, urls: ServiceUrls) -> None:
        self.by_role: dict[str, list[psutil.Process]] = {role: [] for role in ROLES}
        self._postmasters: list[psutil.Process] = []
        supervisor = psutil.Process(up.pid)
        self.by_role["supervisor"].append(supervisor)
        for child in supervisor.children(recursive=True):
            command = _cmdline(child)
            if "serve" in command:
                self.by_role["api"].append(child)
            elif "worker" in command:
                self.by_role["worker"].append(child)
        # PostgreSQL and Redis are daemonised (not children of `up`): found by their socket paths.
        pg_socket_dir = parse_qs(urlsplit(urls.database_url).query).get("host", [""])[0]
        redis_socket = urlsplit(urls.redis_url).path
        for proc in psutil.process_iter():
            command = " ".join(_cmdline(proc))
            if redis_socket and redis_socket in command:
                self.by_role["redis"].append(proc)
            elif pg_socket_dir and pg_socket_dir in command:
                self._postmasters.append(proc)

    def snapshot(self) -> Snapshot:
        processes = {**self.by_role, "postgres": [*self._postmasters,
                                                  *(c for p in self._postmasters for c in _children(p))]}
        taken: Snapshot = {}
        for role, members in processes.items():
            taken[role] = {}
            for proc in members:
                try:
                    times = proc.cpu_times()
                except psutil.Error:
                    continue
                taken[role][proc.pid] = (times.user + times.system) * 1000
        return taken


    def wait_until_quiet(self, *, window_s: float = 0.3, max_busy_fraction: float = 0.1,
                         timeout_s: float = 15.0) -> bool:
        """Like cores.wait_until_quiet, but for these processes only: other programs on the core do not count."""
        deadline = time.monotonic() + timeout_s
        while True:
            before = self.snapshot()
            time.sleep(window_s)
            if sum(difference(self.snapshot(), before).values()) <= window_s * 1000 * max_busy_fraction:
                return True
            if time.monotonic() >= deadline:
                return False


def difference(after: Snapshot, before: Snapshot) -> dict[str, float]:
    """CPU ms per role between two snapshots; a process that ended in between is not counted."""
    return {role: sum(ms - before.get(role, {}).get(pid, 0.0) for pid, ms in pids.items())
            for role, pids in after.items()}


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []
