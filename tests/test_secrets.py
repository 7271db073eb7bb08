"""No secret (provider key, virtual key, master key) in a response body, a usage row or a log line."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import CANARY_PROVIDER_KEY, MASTER_KEY


def _bodies_of_a_busy_session(api, admin, fake, tenant) -> list[str]:
    headers = {"authorization": f"Bearer {tenant.key}"}
    admin.add_model(tenant.account_id, "leaky", fake.base_url, upstream="openai/echo-key-400", api_key=CANARY_PROVIDER_KEY)
    bodies = [
        admin.call("GET", "/model/info", tenant.account_id).text,
        admin.call("GET", f"/key/info?key={tenant.key_id}", tenant.account_id).text,
        admin.call("GET", "/key/list?return_full_object=true", tenant.account_id).text,
        admin.call("GET", "/accounts").text,
        httpx.post(f"{api.url}/v1/chat/completions", headers=headers,
                   json={"model": "leaky", "messages": [{"role": "user", "content": "hi"}]}).text,
        httpx.post(f"{api.url}/v1/chat/completions", headers=headers,
                   json={"model": tenant.model, "messages": [{"role": "user", "content": "hi"}]}).text,
        httpx.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {tenant.key}x"},
                   json={"model": tenant.model, "messages": []}).text,
        httpx.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {MASTER_KEY}x"},
                   json={"model": tenant.model, "messages": []}).text,
        httpx.post(f"{api.url}/model/new", headers={"authorization": f"Bearer {MASTER_KEY}",
                                                     "x-alchemi-account-id": tenant.account_id},
                   json={"model_name": "bad", "litellm_params": {"model": "nope/x", "api_key": CANARY_PROVIDER_KEY}}).text,
    ]
    return bodies


async def test_secrets_stay_out_of_bodies_rows_and_logs(api, admin, fake, tenant, db, cluster):
    bodies = _bodies_of_a_busy_session(api, admin, fake, tenant)
    assert any("credential" in body for body in bodies), "the leaky upstream's error did reach the client"

    for body in bodies:
        assert CANARY_PROVIDER_KEY not in body
        assert MASTER_KEY not in body
        assert tenant.key not in body

    stored = await db.fetch("SELECT api_key_encrypted FROM model_deployments WHERE account_id = $1",
                            uuid.UUID(tenant.account_id))
    assert stored and all(CANARY_PROVIDER_KEY not in (row["api_key_encrypted"] or "") for row in stored)
    key_row = await db.fetchrow("SELECT * FROM virtual_keys WHERE id = $1", uuid.UUID(tenant.key_id))
    assert tenant.key not in str(dict(key_row)), "only the hash and a short prefix are stored"
    ledger = await db.fetch("SELECT * FROM usage_ledger WHERE account_id = $1", uuid.UUID(tenant.account_id))
    for row in ledger:
        text = str(dict(row))
        assert CANARY_PROVIDER_KEY not in text and tenant.key not in text

    for process in cluster.processes:
        log = process.log_path.read_text(errors="replace")
        assert CANARY_PROVIDER_KEY not in log and MASTER_KEY not in log and tenant.key not in log, process.log_path
