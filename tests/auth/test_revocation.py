"""Key changes reach every API process within a second (Redis pub/sub), with warm caches everywhere."""

from __future__ import annotations

import time

import httpx
import pytest

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def second_api(cluster):
    process = cluster.start_api()
    yield process
    process.stop()


def _chat(url: str, key: str, model: str) -> int:
    return httpx.post(f"{url}/v1/chat/completions", json={"model": model, "messages": MESSAGES},
                      headers={"authorization": f"Bearer {key}"}, timeout=10).status_code


def _refused_within(url: str, key: str, model: str, seconds: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if _chat(url, key, model) == 401:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"still accepted after {seconds} s")


@pytest.mark.parametrize("revoke", ["delete", "block", "delete_account"])
def test_revocation_reaches_the_other_process_within_one_second(api, second_api, admin, tenant, revoke):
    # Warm both processes' caches.
    assert _chat(api.url, tenant.key, tenant.model) == 200
    assert _chat(second_api.url, tenant.key, tenant.model) == 200

    if revoke == "delete":
        admin.ok("POST", "/key/delete", tenant.account_id, json={"keys": [tenant.key]})
    elif revoke == "block":
        admin.ok("POST", "/key/update", tenant.account_id, json={"key": tenant.key_id, "blocked": True})
    else:
        admin.ok("DELETE", f"/accounts/{tenant.account_id}")

    assert _refused_within(second_api.url, tenant.key, tenant.model, 1.0) < 1.0
    assert _chat(api.url, tenant.key, tenant.model) == 401


def test_a_model_change_reaches_the_other_process(api, second_api, admin, tenant, fake):
    assert _chat(second_api.url, tenant.key, "added-later") == 404
    admin.add_model(tenant.account_id, "added-later", fake.base_url, api_key="sk-canary-not-used")
    deadline = time.monotonic() + 1.0
    while _chat(second_api.url, tenant.key, "added-later") == 404:
        assert time.monotonic() < deadline, "the new model is not visible after 1 s"
        time.sleep(0.02)


def test_a_new_key_works_everywhere_at_once(api, second_api, admin, tenant):
    key = admin.generate_key(tenant.account_id)["key"]
    assert _chat(second_api.url, key, tenant.model) == 200


def test_an_expired_key_is_refused(api, admin, tenant):
    key = admin.generate_key(tenant.account_id, duration="1s")["key"]
    assert _chat(api.url, key, tenant.model) == 200
    time.sleep(1.2)
    assert _chat(api.url, key, tenant.model) == 401
