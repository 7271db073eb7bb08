"""One request id per request, end to end: the `x-request-id` answer header (exactly one), the usage row and
the log lines agree; a client's own id is kept as the prefix of a unique one on the data plane (the ledger's
id is unique, a client may reuse its ids) and echoed unchanged on management routes."""

from __future__ import annotations

import uuid

import httpx

from tests.support.ledger import wait_for_rows

PROMPT = [{"role": "user", "content": "which id am I"}]


def _chat(api, key: str, model: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}", **headers},
                      json={"model": model, "messages": PROMPT}, timeout=30)


async def test_the_answer_header_and_the_usage_row_carry_the_same_single_id(api, tenant, db):
    response = _chat(api, tenant.key, tenant.model)

    assert response.status_code == 200
    ids = response.headers.get_list("x-request-id")
    assert len(ids) == 1 and len(ids[0]) == 32
    rows = await wait_for_rows(db, "request_id = $1", ids[0], expected=1)
    assert len(rows) == 1 and str(rows[0]["account_id"]) == tenant.account_id


async def test_a_client_reusing_its_request_id_gets_two_unique_ids_and_two_usage_rows(api, tenant, db):
    client_id = f"trace-{uuid.uuid4().hex[:12]}"

    first = _chat(api, tenant.key, tenant.model, **{"x-request-id": client_id})
    second = _chat(api, tenant.key, tenant.model, **{"x-request-id": client_id})

    assert first.status_code == second.status_code == 200
    ids = [first.headers.get_list("x-request-id"), second.headers.get_list("x-request-id")]
    assert all(len(found) == 1 for found in ids)
    (one,), (two,) = ids
    assert one != two and one.startswith(client_id + ".") and two.startswith(client_id + ".")
    rows = await wait_for_rows(db, "request_id LIKE $1", client_id + ".%", expected=2)
    assert sorted(row["request_id"] for row in rows) == sorted([one, two]), "neither request's usage was lost"


async def test_a_long_client_id_still_fits_the_ledger(api, tenant, db):
    client_id = "x" * 64
    response = _chat(api, tenant.key, tenant.model, **{"x-request-id": client_id})

    assert response.status_code == 200
    ident = response.headers["x-request-id"]
    assert len(ident) <= 64 and ident.startswith("x" * 55 + ".")
    assert len(await wait_for_rows(db, "request_id = $1", ident, expected=1)) == 1


def test_refusals_before_routing_name_their_request_too(api, tenant):
    refused = _chat(api, tenant.key + "x", tenant.model, **{"x-request-id": "refused-req-0001"})

    assert refused.status_code == 401
    ids = refused.headers.get_list("x-request-id")
    assert len(ids) == 1 and ids[0].startswith("refused-req-0001.")


def test_management_routes_echo_the_client_id_unchanged(api, admin, tenant):
    response = admin.http.get("/key/list", headers={**admin.headers(tenant.account_id),
                                                    "x-request-id": "console-req-12345"})

    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == ["console-req-12345"]
