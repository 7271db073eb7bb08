"""Child processes the bench starts (fake upstream, gateway, LiteLLM): logged, waited for, and always ended."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import deque
from pathlib import Path

import psutil

from bench.overhead import loopback_http


class StartupError(RuntimeError):
    """A process did not come up; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagedProcess:
    """One command in its own session (so its whole process group can be killed), output to a log file."""

    def __init__(self, name: str, argv: list[str], *, log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            self.popen = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True,
            )
        self.pid = self.popen.pid
        # Filled by stop(): descendants still running after the polite signal's grace period.
        self.left_behind: list[str] = []

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except OSError:
            return ""

    def wait_for_http(self, url: str, *, timeout_s: float, expect_status: int = 200) -> int:
        """Poll GET url until it answers expect_status; returns how many polls were answered at all."""
        deadline = time.monotonic() + timeout_s
        answered = 0
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise StartupError(
                    f"{self.name} exited with code {self.popen.returncode} before {url} answered.\n"
                    f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
                )
            try:
                status, body = loopback_http.call("GET", url, timeout_s=5)
            except OSError as exc:
                last = repr(exc)
            else:
                answered += 1
                if status == expect_status:
                    return answered
                last = f"HTTP {status}: {body[:200]!r}"
            time.sleep(0.2)
        raise StartupError(
            f"{self.name}: {url} did not answer {expect_status} within {timeout_s:.0f} s (last: {last}).\n"
            f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
        )

    def stop(self, *, first_signal: int = signal.SIGTERM, grace_s: float = 15.0) -> None:
        """Send first_signal to the leader, wait grace_s, then SIGKILL the group and any straggler."""
        # Noted now: once the leader is gone its children are re-parented and out of psutil's sight.
        descendants = self._descendants()
        if self.alive():
            try:
                os.kill(self.pid, first_signal)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.left_behind.append(f"{self.name} itself (pid {self.pid}) ignored {signal.Signals(first_signal).name}")
        deadline = time.monotonic() + (2.0 if self.left_behind else grace_s)
        for child in descendants:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except psutil.TimeoutExpired:
                self.left_behind.append(f"pid {child.pid} ({' '.join(child.cmdline())[:120]})")
            except psutil.NoSuchProcess:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for child in descendants:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def _descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def handle_stop_signals() -> None:
    """SIGTERM/SIGHUP become SystemExit and SIGINT KeyboardInterrupt, so finally blocks stop every child."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    # A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored across
    # exec: `alchemi up` would then not stop on the SIGINT we send it. A handled one is reset to the
    # default in every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)
