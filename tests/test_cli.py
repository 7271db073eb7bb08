"""`alchemi up` (behind `make run`): embedded PostgreSQL + Redis, API + worker, and a clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil

from tests.support.processes import ROOT, free_port


def test_up_starts_everything_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith(("ALCHEMI_", "LITELLM_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "Press Ctrl-C" in line or process.poll() is not None:
                break
        text = "".join(output)
        assert f"http://127.0.0.1:{port}" in text, text[-2000:]
        master_key_file = tmp_path / "data" / "master_key"
        assert str(master_key_file) in text and master_key_file.read_text().strip().startswith("sk-master-")
        assert oct(master_key_file.stat().st_mode & 0o777) == "0o600"

        ready = None
        while time.monotonic() < deadline:
            ready = httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=2)
            if ready.status_code == 200:
                break
            time.sleep(0.3)
        assert ready is not None and ready.json() == {"status": "ok", "db": "ok", "redis": "ok", "workers": "ok"}
        master = master_key_file.read_text().strip()
        created = httpx.post(f"http://127.0.0.1:{port}/accounts", json={"name": "first"},
                             headers={"authorization": f"Bearer {master}"})
        assert created.status_code == 201

        tree = [process.pid] + [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    time.sleep(0.5)
    survivors = [pid for pid in tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], "everything `up` started must be gone"
    leftover = [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert leftover == [], [p.info["cmdline"] for p in leftover]
