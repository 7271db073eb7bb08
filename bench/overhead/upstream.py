"""The fake OpenAI upstream (tests/fakes/openai_upstream.py) as a process on the load core."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.overhead.cores import LOAD_CORE, pinned
from bench.overhead.load import Target
from bench.overhead.paths import LOG_DIR, REPO_ROOT
from bench.overhead.processes import ManagedProcess
from bench.overhead.workload import UPSTREAM_CHUNKS


def start_fake_upstream(port: int, *, log_dir: Path = LOG_DIR) -> tuple[ManagedProcess, Target]:
    process = ManagedProcess(
        "fake upstream",
        pinned(LOAD_CORE, [sys.executable, "-m", "tests.fakes.openai_upstream",
                           "--host", "127.0.0.1", "--port", str(port), "--chunks", str(UPSTREAM_CHUNKS)]),
        log_path=log_dir / "fake_upstream.log",
        cwd=REPO_ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    process.wait_for_http(f"{base_url}/v1/models", timeout_s=30)
    # The fake ignores the token; it is sent only so every target gets the same headers.
    return process, Target("direct", base_url, token="sk-fake", on_proxy_core=False)
