"""Starting real gateway processes (API, worker) against the test's PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL, timeout=5)


@dataclass
class Cluster:
    """The processes a test-suite run started; all of them log into `log_dir` for the secret canary."""

    env: dict[str, str]
    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], port: int | None = None, extra_env: dict[str, str] | None = None) -> Process:
        log_path = self.log_dir / f"{name}-{len(self.processes)}.log"
        handle = open(log_path, "ab")
        popen = subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=ROOT,
                                 env={**self.env, **(extra_env or {})}, stdout=handle, stderr=subprocess.STDOUT)
        process = Process(name, popen, log_path, port)
        self.processes.append(process)
        return process

    def start_api(self, extra_env: dict[str, str] | None = None) -> Process:
        port = free_port()
        process = self._spawn("api", ["serve", "--host", "127.0.0.1", "--port", str(port)], port, extra_env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"API exited: {process.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{process.url}/health/liveliness", timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("API did not start in 30 s")

    def start_worker(self, extra_env: dict[str, str] | None = None) -> Process:
        return self._spawn("worker", ["worker"], None, extra_env)

    def migrate(self) -> None:
        done = subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=self.env,
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"alchemi migrate failed ({done.returncode}):\n{done.stderr[-4000:]}")

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def base_env(database_url: str, redis_url: str, data_dir: Path, master_key: str,
             app_database_url: str | None = None) -> dict[str, str]:
    """`database_url` is the owner (migrations); the API and workers connect as `app_database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALCHEMI_", "LITELLM_"))}
    if app_database_url:
        env["ALCHEMI_APP_DATABASE_URL"] = app_database_url
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ALCHEMI_DATA_DIR=str(data_dir),
        ALCHEMI_MASTER_KEY=master_key,
        ALCHEMI_SECRET_KEY="test-secret-" + "x" * 32,
        ALCHEMI_WORKER_HEALTH_INTERVAL="1",
        LOG_LEVEL="info",
    )
    return env
