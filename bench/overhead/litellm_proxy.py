"""LiteLLM's proxy, the comparison point: its own venv, a generated config, one worker on the proxy core.

It runs without a database, with the master key as the only key, so that it does the least work it
can do per request: its numbers are a best case for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.overhead.cores import PROXY_CORE, pinned
from bench.overhead.load import Target
from bench.overhead.paths import LOG_DIR, REPO_ROOT
from bench.overhead.processes import ManagedProcess, StartupError
from bench.overhead.workload import MODEL

LITELLM_VERSION = "1.108.7"
VENV = REPO_ROOT / "bench" / ".venv-litellm"
MASTER_KEY = "sk-litellm-bench"
_STARTUP_TIMEOUT_S = 180


def ensure_litellm_venv() -> Path:
    """Path of the `litellm` command, after creating bench/.venv-litellm and installing it if needed."""
    python = VENV / "bin" / "python"
    if _installed_version(python) == LITELLM_VERSION:
        return VENV / "bin" / "litellm"
    log_path = LOG_DIR / "litellm_install.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing litellm[proxy]=={LITELLM_VERSION} into {VENV.relative_to(REPO_ROOT)} (log: {log_path}) ...", flush=True)
    with open(log_path, "wb") as log:
        if not python.exists():
            # Same interpreter as the project: `-m venv` from inside a venv bases the new one on the real Python.
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], stdout=log, stderr=subprocess.STDOUT, check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
            stdout=log, stderr=subprocess.STDOUT, timeout=1200,
        )
    if install.returncode != 0 or _installed_version(python) != LITELLM_VERSION:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise StartupError(f"could not install litellm[proxy]=={LITELLM_VERSION} into {VENV}:\n{tail}")
    return VENV / "bin" / "litellm"


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    check = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                           capture_output=True, text=True)
    return check.stdout.strip() if check.returncode == 0 else None


def write_config(work_dir: Path, upstream_base_url: str) -> Path:
    config = work_dir / "litellm_config.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/fake-model\n"
        f"      api_base: {upstream_base_url}/v1\n"
        "      api_key: sk-fake\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )
    return config


def start_litellm(litellm: Path, *, port: int, upstream_base_url: str, work_dir: Path) -> tuple[ManagedProcess, Target]:
    env = {
        **os.environ,
        # Offline machine: use the bundled price map instead of fetching it, and send no telemetry.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY_DISABLED": "true",
    }
    # A DATABASE_URL in the caller's environment would make LiteLLM connect to it and log spend.
    env.pop("DATABASE_URL", None)
    process = ManagedProcess(
        "litellm",
        pinned(PROXY_CORE, [str(litellm), "--config", str(write_config(work_dir, upstream_base_url)),
                            "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]),
        log_path=LOG_DIR / "litellm.log",
        env=env,
        cwd=work_dir,
    )
    base_url = f"http://127.0.0.1:{port}"
    process.wait_for_http(f"{base_url}/health/liveliness", timeout_s=_STARTUP_TIMEOUT_S)
    return process, Target("litellm", base_url, token=MASTER_KEY, on_proxy_core=True)
