"""Our gateway as the bench runs it: `alchemi up` on the proxy core, one tenant, one model, one virtual key.

`alchemi up` starts embedded PostgreSQL and Redis, one API process (`alchemi serve`) and one arq
worker; they all inherit the proxy-core affinity, so the core's busy time is the gateway's whole cost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.overhead import loopback_http
from bench.overhead.cores import PROXY_CORE, pinned
from bench.overhead.load import Target
from bench.overhead.paths import LOG_DIR, REPO_ROOT
from bench.overhead.processes import ManagedProcess, StartupError, free_port
from bench.overhead.workload import MODEL

DEFAULT_BINARY = REPO_ROOT / ".venv" / "bin" / "alchemi"
MASTER_KEY = "sk-master-bench"
MASTER_HEADERS = {"Authorization": f"Bearer {MASTER_KEY}"}
_STARTUP_TIMEOUT_S = 120
# Made-up prices: the gateway should do its full billing work per request, as it would in production.
_PRICES = {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}


class ProvisioningError(RuntimeError):
    """An admin call the bench needs (account, model, key, ...) did not answer as specified."""


@dataclass(frozen=True)
class Tenant:
    """One account the bench created, with the bench model and a virtual key in it."""

    account_id: str
    model_id: str
    key: str
    key_id: str


@dataclass(frozen=True)
class ServiceUrls:
    """Where `alchemi up` put its embedded PostgreSQL and Redis, as its API process was told."""

    database_url: str
    redis_url: str


def start_gateway(binary: Path, *, port: int, upstream_base_url: str, data_dir: Path,
                  provision: bool = True, log_dir: Path = LOG_DIR) -> tuple[ManagedProcess, Target]:
    """Start `alchemi up`; with provision, also one tenant whose key becomes the target's token."""
    if not binary.exists():
        raise StartupError(f"{binary} does not exist (is the project installed into .venv?)")
    env = {**os.environ, "ALCHEMI_MASTER_KEY": MASTER_KEY, "ALCHEMI_DATA_DIR": str(data_dir)}
    # Set in the caller's shell they would point `up` at external services instead of the embedded ones.
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    process = ManagedProcess(
        "alchemi up",
        pinned(PROXY_CORE, [str(binary), "up", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]),
        log_path=log_dir / "gateway.log",
        env=env,
        cwd=REPO_ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    target = Target("gateway", base_url, token="", on_proxy_core=True)
    try:
        target.requests_sent += process.wait_for_http(f"{base_url}/health/readiness", timeout_s=_STARTUP_TIMEOUT_S)
        if provision:
            target.token = provision_virtual_key(target, upstream_base_url)
    except BaseException:
        stop_gateway(process, data_dir)
        raise
    return process, target


@contextmanager
def running_gateway(binary: Path, *, upstream_base_url: str, log_dir: Path, left_behind: list[str],
                    provision: bool = False) -> Iterator[tuple[ManagedProcess, Target]]:
    """`alchemi up` on a fresh data dir and a free port for the length of a with block; whatever had
    to be killed on the way out is added to left_behind."""
    data_dir = Path(tempfile.mkdtemp(prefix="alchemi-bench-"))
    try:
        process, target = start_gateway(binary, port=free_port(), upstream_base_url=upstream_base_url,
                                        data_dir=data_dir, provision=provision, log_dir=log_dir)
        try:
            yield process, target
        finally:
            left_behind.extend(stop_gateway(process, data_dir))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def provision_virtual_key(target: Target, upstream_base_url: str) -> str:
    """Create an account, the bench model pointing at the fake, and a virtual key for it; return the key."""
    return provision_tenant(target, upstream_base_url).key


def provision_tenant(target: Target, upstream_base_url: str, *, name: str = "bench") -> Tenant:
    """An account, the bench model pointing at the fake (with prices, no limits), a virtual key for it."""
    account_id = create_account(target, name)
    headers = tenant_headers(account_id)
    model_id = create_model(target, headers, upstream_base_url)
    key, key_id = create_key(target, headers)
    return Tenant(account_id=account_id, model_id=model_id, key=key, key_id=key_id)


def tenant_headers(account_id: str) -> dict[str, str]:
    """The master key acting inside one account: how every tenant-scoped admin call is made."""
    return {**MASTER_HEADERS, "x-alchemi-account-id": account_id}


def create_account(target: Target, name: str) -> str:
    account = admin_call(target, "POST", "/accounts", {"name": name}, MASTER_HEADERS, expect=201)
    if not account.get("account_id"):
        raise ProvisioningError(f"POST /accounts answered without account_id: {account}")
    return str(account["account_id"])


def create_model(target: Target, headers: dict[str, str], upstream_base_url: str, *, model_name: str = MODEL,
                 **litellm_params) -> str:
    """The bench model (or model_name) on the fake upstream, with made-up prices and any extra
    litellm_params (they override model, api_base and api_key too); its id."""
    model = admin_call(target, "POST", "/model/new", {
        "model_name": model_name,
        "litellm_params": {"model": "openai/fake-model", "api_base": f"{upstream_base_url}/v1", "api_key": "sk-fake",
                           **litellm_params},
        "model_info": _PRICES,
    }, headers)
    if not model.get("model_id"):
        raise ProvisioningError(f"POST /model/new answered without model_id: {model}")
    return str(model["model_id"])


def create_key(target: Target, headers: dict[str, str], **fields) -> tuple[str, str]:
    """A virtual key for the bench model (plus any /key/generate fields): (the key, its id)."""
    generated = admin_call(target, "POST", "/key/generate", {"models": [MODEL], **fields}, headers)
    key = generated.get("key")
    if not isinstance(key, str) or not key.startswith("sk-") or not generated.get("token"):
        raise ProvisioningError(f"POST /key/generate answered without a virtual key and its id: {generated}")
    return key, str(generated["token"])


def admin_call(target: Target, method: str, path: str, body: dict | None, headers: dict[str, str], *,
               expect: int | None = None) -> dict:
    """One admin API call; its JSON object answer, or ProvisioningError unless it answered expect (default 2xx)."""
    status, raw = loopback_http.call(method, f"{target.base_url}{path}", body=body, headers=headers)
    target.requests_sent += 1
    ok = status == expect if expect is not None else 200 <= status < 300
    if not ok:
        wanted = expect if expect is not None else "2xx"
        raise ProvisioningError(f"{method} {path} answered {status} (wanted {wanted}): {raw[:500]!r}")
    try:
        answer = json.loads(raw)
    except ValueError:
        raise ProvisioningError(f"{method} {path} answered {status} with a body that is not JSON: {raw[:500]!r}") from None
    if not isinstance(answer, dict):
        raise ProvisioningError(f"{method} {path} answered {status} with JSON that is not an object: {raw[:500]!r}")
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


def service_urls(api_process: psutil.Process) -> ServiceUrls:
    """DATABASE_URL and REDIS_URL from the API process's environment: `up` hands them to its children."""
    env = api_process.environ()
    if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
        raise StartupError(f"the API process (pid {api_process.pid}) has no DATABASE_URL / REDIS_URL in its environment")
    return ServiceUrls(env["DATABASE_URL"], env["REDIS_URL"])


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
