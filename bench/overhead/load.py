"""wrk, the load generator: installing it when missing, and one run of it against a target.

wrk runs on the load core with a single thread: 16 connections are plenty for one event loop, and a
second thread would only compete with the fake upstream for the same core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.overhead import loopback_http
from bench.overhead.cores import LOAD_CORE, pinned
from bench.overhead.workload import Mode, chat_body, check_answer

LUA_SCRIPT = Path(__file__).with_name("chat_completion.lua")
_RESULT_PREFIX = "BENCH_JSON "
# Generous, so that a slow proxy shows up as low req/s and high latency rather than as wrk timeouts.
_REQUEST_TIMEOUT = "30s"


class WrkError(RuntimeError):
    """wrk could not be installed, or a run of it did not produce results."""


@dataclass
class Target:
    """Something that serves /v1/chat/completions, and how many requests the bench has sent it."""

    name: str
    base_url: str  # http://127.0.0.1:PORT, without /v1
    token: str
    # True when the target and everything it started run pinned on the proxy core.
    on_proxy_core: bool
    requests_sent: int = 0

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/v1/chat/completions"


@dataclass
class LoadResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_us: dict[str, float]
    wrk_stderr: str = field(default="", repr=False)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def ensure_wrk() -> str:
    """Path of wrk, installed with apt-get (Debian's package) when it is not on PATH."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise WrkError("wrk is not installed and this is not root on a Debian-like system: run `apt-get install -y wrk`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("wrk not found; installing it with apt-get ...", flush=True)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    # The package lists of a fresh machine may be empty or stale: update only when a plain install fails.
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        retry = subprocess.run(install, env=env, capture_output=True, text=True)
        if retry.returncode != 0:
            raise WrkError(f"`apt-get install -y wrk` failed:\n{retry.stdout[-1500:]}{retry.stderr[-1500:]}")
    found = shutil.which("wrk")
    if not found:
        raise WrkError("apt-get installed wrk but it is not on PATH")
    return found


def probe(target: Target, mode: Mode, *, body: bytes | None = None) -> None:
    """Send one request (body defaults to chat_body(mode)) and check the answer, so a broken target
    fails loudly instead of as fast errors."""
    status, raw = loopback_http.call("POST", target.chat_url, body=body or chat_body(mode),
                                     headers={"Authorization": f"Bearer {target.token}"})
    target.requests_sent += 1
    check_answer(mode, status, raw)


def run_load(target: Target, mode: Mode, *, connections: int, duration_s: int, stop_after: int | None = None,
             body: bytes | None = None) -> LoadResult:
    """One wrk run; stop_after ends it after that many answers (or at duration_s, whichever is first).

    body defaults to chat_body(mode); it must stream when mode does.
    """
    argv = pinned(LOAD_CORE, [
        ensure_wrk(), "-t1", f"-c{connections}", f"-d{duration_s}s", f"--timeout={_REQUEST_TIMEOUT}",
        "-s", str(LUA_SCRIPT), target.chat_url,
    ])
    env = {**os.environ, "BENCH_BODY": (body or chat_body(mode)).decode(), "BENCH_TOKEN": target.token}
    env.pop("BENCH_STOP_AFTER", None)
    if stop_after is not None:
        env["BENCH_STOP_AFTER"] = str(max(1, stop_after))
    try:
        run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration_s + 60)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {duration_s + 60} s against {target.name}") from exc
    line = next((line for line in run.stdout.splitlines() if line.startswith(_RESULT_PREFIX)), None)
    if run.returncode != 0 or line is None:
        raise WrkError(f"wrk failed against {target.name} (exit {run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    summary = json.loads(line[len(_RESULT_PREFIX):])
    target.requests_sent += summary["requests"]
    return LoadResult(
        requests=summary["requests"],
        duration_s=summary["duration_us"] / 1e6,
        errors=summary["errors"],
        latency_us=summary["latency_us"],
        wrk_stderr=run.stderr,
    )
