"""The three fake upstreams of the translation bench, one process each on the load core, and the
deployment (litellm_params) that points the gateway at each.

All three answer the same 20-word text with usage and no artificial latency (the Anthropic and Gemini
fakes have no latency knob, so none of the three gets one).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.overhead.cores import LOAD_CORE, pinned
from bench.overhead.paths import REPO_ROOT
from bench.overhead.processes import ManagedProcess, free_port
from bench.overhead.upstream import start_fake_upstream

ANTHROPIC_KEY = "sk-fake-anthropic"
GEMINI_KEY = "fake-gemini-key"
_STARTUP_TIMEOUT_S = 30


@dataclass(frozen=True)
class Upstream:
    name: str  # "openai", "anthropic" or "gemini": the wire format the gateway translates to
    model_name: str  # what the bench asks the gateway for
    litellm_params: dict  # the deployment behind model_name
    pid: int  # the fake's process, for its CPU time


@contextmanager
def running_upstreams(log_dir: Path) -> Iterator[list[Upstream]]:
    """The OpenAI, Anthropic and Gemini fakes for the length of a with block, OpenAI's first."""
    with ExitStack() as stack:
        openai, target = start_fake_upstream(free_port(), log_dir=log_dir)
        stack.callback(openai.stop)
        anthropic, anthropic_url = _start_vendor("anthropic", ANTHROPIC_KEY, log_dir)
        stack.callback(anthropic.stop)
        gemini, gemini_url = _start_vendor("gemini", GEMINI_KEY, log_dir)
        stack.callback(gemini.stop)
        yield [
            Upstream("openai", "bench-openai",
                     {"model": "openai/fake-model", "api_base": f"{target.base_url}/v1", "api_key": "sk-fake"},
                     openai.pid),
            Upstream("anthropic", "bench-anthropic",
                     {"model": "anthropic/claude-sonnet-4-5", "api_base": anthropic_url, "api_key": ANTHROPIC_KEY},
                     anthropic.pid),
            Upstream("gemini", "bench-gemini",
                     {"model": "gemini/gemini-2.5-flash", "api_base": gemini_url, "api_key": GEMINI_KEY},
                     gemini.pid),
        ]


def _start_vendor(vendor: str, api_key: str, log_dir: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        f"fake {vendor}",
        pinned(LOAD_CORE, [sys.executable, "-m", "bench.translation.fake_vendors", vendor,
                           "--port", str(port), "--api-key", api_key]),
        log_path=log_dir / f"fake_{vendor}.log",
        cwd=REPO_ROOT,
    )
    try:
        # Both fakes answer a bare GET with an error (Anthropic 404, Gemini 400 for the missing key):
        # that they answer at all is what is waited for.
        process.wait_for_http(f"{base_url}/", timeout_s=_STARTUP_TIMEOUT_S,
                              expect_status=404 if vendor == "anthropic" else 400)
    except BaseException:
        process.stop()
        raise
    return process, base_url
