"""Guardrails against real processes: an account with models on a scripted upstream (native Responses) and
on a translating vendor (hosted_vllm), its key, and the management calls that configure its guards.

Every secret a test sends is made fresh and added to the session's log canary (tests/conftest.py): no
process may ever log it."""

from __future__ import annotations

import random
import string
import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import CANARY_PROVIDER_KEY, EXTRA_CANARIES
from tests.guardrails.scripted_upstream import ScriptedUpstream
from tests.support.api import AdminClient


def aws_key() -> str:
    """A fresh AWS access key id (AKIA + 16 upper-case letters and digits), registered as a canary."""
    value = "AKIA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=16))
    EXTRA_CANARIES.append(("guardrails test secret", value))
    return value


def email() -> str:
    value = f"jane.{uuid.uuid4().hex[:10]}@corp-mail.com"
    EXTRA_CANARIES.append(("guardrails test email", value))
    return value


@pytest.fixture(scope="session")
def scripted():
    with ScriptedUpstream(api_key=CANARY_PROVIDER_KEY) as upstream:
        yield upstream


@dataclass
class Guarded:
    """An account: `gpt` (openai, native Responses), `vllm` (hosted_vllm: Responses and Messages translated
    onto chat), `embed`, all on the scripted upstream; `key` may use them all."""

    admin: AdminClient
    account_id: str
    key: str
    key_id: str

    def ok(self, method: str, path: str, **kwargs) -> dict:
        return self.admin.ok(method, f"/copilot/guardrails{path}", self.account_id, **kwargs)

    def call(self, method: str, path: str, **kwargs):
        return self.admin.call(method, f"/copilot/guardrails{path}", self.account_id, **kwargs)

    def guard(self, guard_type: str, *, action: str = "mask", detectors: dict[str, str] | None = None) -> dict:
        body = {"enabled": True, "action": action, "detectors": detectors or {}}
        return self.ok("PUT", f"/config/{guard_type}", json=body)

    def scan_responses(self, on: bool = True) -> dict:
        return self.ok("PUT", "/config", json={"scan_responses": on})


def make_guarded(admin: AdminClient, upstream_url: str) -> Guarded:
    account_id = admin.create_account(f"guardrails-{uuid.uuid4().hex[:8]}")
    for name, model in (("gpt", "openai/gpt-4o-mini"), ("vllm", "hosted_vllm/llama-3"),
                        ("embed", "openai/text-embedding-3-small")):
        admin.ok("POST", "/model/new", account_id, json={"model_name": name, "litellm_params": {
            "model": model, "api_base": upstream_url, "api_key": CANARY_PROVIDER_KEY}})
    key = admin.generate_key(account_id)
    return Guarded(admin, account_id, key["key"], key["token"])


@pytest.fixture
def guarded(api, admin, scripted) -> Guarded:
    return make_guarded(admin, scripted.base_url)
