"""Our gateway as the bench runs it: `alchemi up` on the proxy core, one tenant, one model, one virtual key.

`alchemi up` starts embedded PostgreSQL and Redis, one API process (`alchemi serve`) and one arq
worker; they all inherit the proxy-core affinity, so the core's busy time is the gateway's whole cost.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil

from bench.overhead import loopback_http
from bench.overhead.cores import PROXY_CORE, pinned
from bench.overhead.load import Target
from bench.overhead.paths import LOG_DIR, REPO_ROOT
from bench.overhead.processes import ManagedProcess, StartupError
from bench.overhead.workload import MODEL

DEFAULT_BINARY = REPO_ROOT / ".venv" / "bin" / "alchemi"
MASTER_KEY = "sk-master-bench"
_STARTUP_TIMEOUT_S = 120
# Made-up prices: the gateway should do its full billing work per request, as it would in production.
_PRICES = {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}


class ProvisioningError(RuntimeError):
    """An admin call the bench needs (account, model, key) did not answer as specified."""


def start_gateway(binary: Path, *, port: int, upstream_base_url: str, data_dir: Path) -> tuple[ManagedProcess, Target]:
    if not binary.exists():
        raise StartupError(f"{binary} does not exist (is the project installed into .venv?)")
    env = {**os.environ, "ALCHEMI_MASTER_KEY": MASTER_KEY, "ALCHEMI_DATA_DIR": str(data_dir)}
    # Set in the caller's shell they would point `up` at external services instead of the embedded ones.
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    process = ManagedProcess(
        "alchemi up",
        pinned(PROXY_CORE, [str(binary), "up", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]),
        log_path=LOG_DIR / "gateway.log",
        env=env,
        cwd=REPO_ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    target = Target("gateway", base_url, token="", on_proxy_core=True)
    try:
        target.requests_sent += process.wait_for_http(f"{base_url}/health/readiness", timeout_s=_STARTUP_TIMEOUT_S)
        target.token = provision_virtual_key(target, upstream_base_url)
    except BaseException:
        stop_gateway(process, data_dir)
        raise
    return process, target


def provision_virtual_key(target: Target, upstream_base_url: str) -> str:
    """Create an account, the bench model pointing at the fake, and a virtual key for it; return the key."""
    admin = {"Authorization": f"Bearer {MASTER_KEY}"}
    account = _admin_call(target, "/accounts", {"name": "bench"}, admin, expect=201)
    account_id = account.get("account_id")
    if not account_id:
        raise ProvisioningError(f"POST /accounts answered without account_id: {account}")
    tenant = {**admin, "x-alchemi-account-id": str(account_id)}
    _admin_call(target, "/model/new", {
        "model_name": MODEL,
        "litellm_params": {"model": "openai/fake-model", "api_base": f"{upstream_base_url}/v1", "api_key": "sk-fake"},
        "model_info": _PRICES,
    }, tenant)
    key = _admin_call(target, "/key/generate", {"models": [MODEL]}, tenant).get("key")
    if not isinstance(key, str) or not key.startswith("sk-"):
        raise ProvisioningError(f"POST /key/generate answered without a virtual key: {key!r}")
    return key


def _admin_call(target: Target, path: str, body: dict, headers: dict[str, str], *, expect: int | None = None) -> dict:
    status, raw = loopback_http.call("POST", f"{target.base_url}{path}", body=body, headers=headers)
    target.requests_sent += 1
    ok = status == expect if expect is not None else 200 <= status < 300
    if not ok:
        wanted = expect if expect is not None else "2xx"
        raise ProvisioningError(f"POST {path} answered {status} (wanted {wanted}): {raw[:500]!r}")
    try:
        answer = json.loads(raw)
    except ValueError:
        raise ProvisioningError(f"POST {path} answered {status} with a body that is not JSON: {raw[:500]!r}") from None
    if not isinstance(answer, dict):
        raise ProvisioningError(f"POST {path} answered {status} with JSON that is not an object: {raw[:500]!r}")
    return answer


def find_api_process(up: ManagedProcess, port: int) -> psutil.Process:
    """The `alchemi serve` child of `alchemi up`: the process whose memory the bench watches."""
    candidates = []
    for child in psutil.Process(up.pid).children(recursive=True):
        try:
            # An exact argument: "pgserver" and "redis-server" contain "serve" too.
            if "serve" in child.cmdline():
                candidates.append(child)
        except psutil.NoSuchProcess:
            continue
    if not candidates:
        raise StartupError(f"no child of `alchemi up` (pid {up.pid}) has `serve` on its command line")
    if len(candidates) > 1:
        # E.g. a supervisor and its worker both say `serve`: the one that owns the listening socket serves.
        for candidate in candidates:
            try:
                if any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                       for c in candidate.net_connections(kind="tcp")):
                    return candidate
            except psutil.Error:
                continue
    return candidates[0]


def stop_gateway(process: ManagedProcess, data_dir: Path) -> list[str]:
    """SIGINT `alchemi up` (it stops its children), SIGKILL after 30 s; returns what had to be killed."""
    process.stop(first_signal=signal.SIGINT, grace_s=30)
    return process.left_behind + _kill_processes_using(data_dir)


def _kill_processes_using(data_dir: Path) -> list[str]:
    # Daemonised servers (postgres via pg_ctl, redis) are not children of `up`; the fresh data dir on
    # their command line or as their working directory identifies them as ours.
    killed = []
    marker = str(data_dir)
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.pid != os.getpid() and (marker in cmdline or (proc.info["cwd"] or "").startswith(marker)):
                proc.kill()
                killed.append(f"pid {proc.pid} ({cmdline[:120]}) still running after `alchemi up` stopped")
        except psutil.Error:
            continue
    return killed
