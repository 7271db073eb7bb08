"""POST /zitadel/webhook: Zitadel Actions v2 events, signed with ZITADEL_WEBHOOK_SIGNING_KEY, provision
users of the account mapped to the event's org — through a real worker. A bad signature, an old or
future one, or a malformed event writes nothing; replays and out-of-order deliveries end in the state
an in-order delivery would."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest

from tests.conftest import make_tenant

SIGNING_KEY = "zitadel-signing-" + uuid.uuid4().hex
OLD_KEY = "zitadel-old-" + uuid.uuid4().hex
INSTANCE = "instance-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def webhook_api(cluster):
    """An API process that knows the signing key; the session's worker runs the jobs."""
    process = cluster.start_api(extra_env={"ZITADEL_WEBHOOK_SIGNING_KEY": SIGNING_KEY})
    yield process
    process.stop()


@pytest.fixture
async def org(admin, fake, db):
    """A tenant whose account is mapped to a fresh Zitadel org."""
    tenant = make_tenant(admin, fake)
    org_id = str(uuid.uuid4().int)[:18]
    await db.execute("UPDATE accounts SET zitadel_org_id = $1 WHERE id = $2", org_id, uuid.UUID(tenant.account_id))
    return tenant, org_id


def digest(body: bytes, timestamp: int, key: str = SIGNING_KEY) -> str:
    """What Zitadel signs: HMAC-SHA256(key, "<t>.<raw body>")."""
    return hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, *keys: str, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    return ",".join([f"t={timestamp}", *(f"v1={digest(body, timestamp, key)}" for key in (keys or (SIGNING_KEY,)))])


def event(org_id: str, user_id: str, sequence: int, event_type: str, payload: dict | None = None, *,
          encode: bool = False) -> bytes:
    body = {
        "aggregateID": user_id, "aggregateType": "user", "resourceOwner": org_id, "instanceID": INSTANCE,
        "version": "v2", "sequence": sequence, "event_type": event_type,
        "created_at": "2026-11-27T08:00:00.123456Z", "userID": "editor-1",
    }
    if payload is not None:
        body["event_payload"] = base64.b64encode(json.dumps(payload).encode()).decode() if encode else payload
    return json.dumps(body).encode()


def post(api, body: bytes, signature: str | None = "sign") -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature == "sign":
        headers["ZITADEL-Signature"] = signature_header(body)
    elif signature is not None:
        headers["ZITADEL-Signature"] = signature
    return httpx.post(f"{api.url}/zitadel/webhook", content=body, headers=headers, timeout=10)


def zitadel_id() -> str:
    return str(uuid.uuid4().int)[:18]


async def processed(db, user_id: str, count: int = 1, timeout: float = 15) -> list:
    """The events of a Zitadel user once `count` of them are no longer pending (the worker ran them)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch("SELECT * FROM provisioning_events WHERE instance_id = $1 AND aggregate_id = $2 "
                              "ORDER BY sequence", INSTANCE, user_id)
        if sum(row["status"] != "pending" for row in rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def user_of(db, account_id: str, email: str):
    return await db.fetchrow("SELECT * FROM users WHERE account_id = $1 AND user_email = $2",
                             uuid.UUID(account_id), email)


async def events_of(db, user_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM provisioning_events WHERE aggregate_id = $1", user_id)


async def test_a_bad_missing_old_or_future_signature_is_refused_and_writes_nothing(webhook_api, org, db):
    _, org_id = org
    user_id = zitadel_id()
    body = event(org_id, user_id, 1, "user.human.added", {"email": f"{user_id}@example.com"})
    now = int(time.time())
    refused = {
        "missing": None,
        "empty": "",
        "wrong key": signature_header(body, "not-the-key"),
        "310 s old": signature_header(body, at=now - 310),
        "310 s ahead": signature_header(body, at=now + 310),
        "no timestamp": f"v1={digest(body, now)}",
        "no v1": f"t={now}",
        "timestamp not a number": f"t=abc,v1={digest(body, now)}",
        "signed another body": signature_header(body + b" "),
    }
    for case, header in refused.items():
        response = post(webhook_api, body, header)
        assert response.status_code == 401, case
        assert response.json()["error"]["type"] == "authentication_error", case
        assert "zitadel-signing" not in response.text
    # The body as signed, but altered in transit.
    tampered = body.replace(b"example.com", b"evil.test")
    assert post(webhook_api, tampered, signature_header(body)).status_code == 401
    assert await events_of(db, user_id) == 0
    # Within the tolerance either way, it is accepted.
    assert post(webhook_api, body, signature_header(body, at=now - 290)).status_code == 200


async def test_any_v1_may_match_while_the_key_rotates(webhook_api, org, db):
    _, org_id = org
    user_id = zitadel_id()
    body = event(org_id, user_id, 1, "user.human.added", {"email": f"{user_id}@example.com"})
    assert post(webhook_api, body, signature_header(body, OLD_KEY)).status_code == 401
    assert post(webhook_api, body, signature_header(body, OLD_KEY, SIGNING_KEY)).json()["status"] == "accepted"
    assert len(await processed(db, user_id)) == 1


async def test_malformed_events_are_refused_and_write_nothing(webhook_api, org, db):
    _, org_id = org
    user_id = zitadel_id()
    good = json.loads(event(org_id, user_id, 1, "user.human.added", {"email": f"{user_id}@example.com"}))
    bodies = {
        "not json": b"{not json",
        "no aggregateID": json.dumps({k: v for k, v in good.items() if k != "aggregateID"}).encode(),
        "sequence as text": json.dumps({**good, "sequence": "one"}).encode(),
        "negative sequence": json.dumps({**good, "sequence": -1}).encode(),
        "payload not base64": json.dumps({**good, "event_payload": "%%%not-base64%%%"}).encode(),
        "payload base64 of a list": json.dumps({**good, "event_payload": base64.b64encode(b"[1]").decode()}).encode(),
        "CRLF in the email": json.dumps({**good, "event_payload": {"email": "a@example.com\r\nBcc: x@evil.test"}}).encode(),
        "two addresses": json.dumps({**good, "event_payload": {"email": "a@example.com,b@evil.test"}}).encode(),
    }
    for case, body in bodies.items():
        response = post(webhook_api, body)
        assert response.status_code == 400, (case, response.text)
        assert response.json()["error"]["code"] == "invalid_event", case
    assert await events_of(db, user_id) == 0
    # An event type we do not act on is answered (so Zitadel stops retrying) and not recorded.
    other = event(org_id, user_id, 2, "user.human.phone.changed", {"phone": "+1"})
    assert post(webhook_api, other).json() == {"status": "ignored", "detail": "unsupported_event"}
    assert await events_of(db, user_id) == 0


async def test_added_then_changed_with_both_payload_encodings(webhook_api, org, db):
    tenant, org_id = org
    user_id = zitadel_id()
    first, second = f"ada-{user_id}@example.com", f"ada.lovelace-{user_id}@example.com"
    added = event(org_id, user_id, 1, "user.human.added",
                  {"userName": "ada", "firstName": "Ada", "lastName": "Lovelace", "email": first,
                   "encodedHash": "$2a$14$secret-password-hash"})
    assert post(webhook_api, added).json()["status"] == "accepted"
    await processed(db, user_id)
    user = await user_of(db, tenant.account_id, first)
    assert user is not None and user["user_role"] == "internal_user"
    assert json.loads(user["metadata"])["name"] == "Ada Lovelace"
    # Only what we use is kept of a payload: never a password hash.
    stored = await db.fetchval("SELECT profile::text FROM provisioning_events WHERE aggregate_id = $1", user_id)
    assert "secret-password-hash" not in stored and "encodedHash" not in stored

    changed = event(org_id, user_id, 2, "user.human.changed",
                    {"email": {"email": second, "isVerified": True}, "displayName": "Countess of Lovelace"},
                    encode=True)
    assert post(webhook_api, changed).json()["status"] == "accepted"
    await processed(db, user_id, 2)
    assert await user_of(db, tenant.account_id, first) is None
    renamed = await user_of(db, tenant.account_id, second)
    assert renamed["id"] == user["id"]
    assert json.loads(renamed["metadata"])["name"] == "Countess of Lovelace"


async def test_a_replayed_event_answers_200_and_changes_nothing(webhook_api, org, db):
    tenant, org_id = org
    user_id = zitadel_id()
    address = f"{user_id}@example.com"
    body = event(org_id, user_id, 1, "user.human.added", {"email": address, "displayName": "Grace"})
    first = post(webhook_api, body).json()
    await processed(db, user_id)
    await db.execute("UPDATE users SET metadata = '{\"name\": \"renamed here\"}' WHERE account_id = $1 "
                     "AND user_email = $2", uuid.UUID(tenant.account_id), address)
    for _ in range(3):
        again = post(webhook_api, body)
        assert again.status_code == 200
        assert again.json() == {"status": "duplicate", "event_id": first["event_id"]}
    await asyncio.sleep(0.5)
    assert await events_of(db, user_id) == 1
    assert await db.fetchval("SELECT count(*) FROM users WHERE account_id = $1 AND user_email = $2",
                             uuid.UUID(tenant.account_id), address) == 1
    assert json.loads((await user_of(db, tenant.account_id, address))["metadata"])["name"] == "renamed here"


async def test_out_of_order_deliveries_end_as_in_order_ones(webhook_api, org, db):
    tenant, org_id = org
    # A newer change arrives before the user's creation: the older event cannot undo it.
    user_id = zitadel_id()
    old, new = f"old-{user_id}@example.com", f"new-{user_id}@example.com"
    post(webhook_api, event(org_id, user_id, 7, "user.human.changed", {"email": new}))
    await processed(db, user_id)
    post(webhook_api, event(org_id, user_id, 3, "user.human.added", {"email": old, "displayName": "Alan"}))
    rows = await processed(db, user_id, 2)
    assert [row["status"] for row in rows] == ["applied", "applied"]
    assert await user_of(db, tenant.account_id, old) is None
    user = await user_of(db, tenant.account_id, new)
    assert json.loads(user["metadata"])["name"] == "Alan"  # what only the older event said still counts

    # A removal arrives before the creation: the user is never created.
    gone = zitadel_id()
    post(webhook_api, event(org_id, gone, 9, "user.removed"))
    await processed(db, gone)
    post(webhook_api, event(org_id, gone, 1, "user.human.added", {"email": f"{gone}@example.com"}))
    await processed(db, gone, 2)
    assert await user_of(db, tenant.account_id, f"{gone}@example.com") is None


async def test_an_unmapped_org_changes_nothing(webhook_api, org, db):
    tenant, _ = org
    user_id = zitadel_id()
    address = f"{user_id}@example.com"
    receipt = post(webhook_api, event("org-nobody-maps", user_id, 1, "user.human.added", {"email": address})).json()
    assert receipt["status"] == "accepted"
    [row] = await processed(db, user_id)
    assert (row["status"], row["detail"]) == ("ignored", "unmapped_org")
    assert await db.fetchval("SELECT count(*) FROM users WHERE user_email = $1", address) == 0
    assert await db.fetchval("SELECT count(*) FROM zitadel_users WHERE zitadel_user_id = $1", user_id) == 0


def _models_status(api, key: str) -> int:
    return httpx.get(f"{api.url}/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=10).status_code


def _refused_within(api, key: str, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _models_status(api, key) == 401:
            return True
        time.sleep(0.05)
    return False


async def test_deactivation_blocks_the_users_keys_and_removal_deletes_user_and_keys(webhook_api, api, admin, org,
                                                                                    db):
    tenant, org_id = org
    user_id = zitadel_id()
    address = f"{user_id}@example.com"
    post(webhook_api, event(org_id, user_id, 1, "user.human.added", {"email": address}))
    await processed(db, user_id)
    user = await user_of(db, tenant.account_id, address)
    key = admin.generate_key(tenant.account_id, user_id=str(user["id"]))["key"]
    other_key = tenant.key  # a key of nobody in particular: untouched throughout
    assert _models_status(api, key) == 200  # warm the API's cache: the block must reach it

    post(webhook_api, event(org_id, user_id, 2, "user.deactivated"))
    [_, row] = await processed(db, user_id, 2)
    assert (row["status"], row["detail"]) == ("applied", "keys_blocked")
    assert _refused_within(api, key)
    assert await db.fetchval("SELECT blocked FROM virtual_keys WHERE user_id = $1", user["id"]) is True
    assert _models_status(api, other_key) == 200

    post(webhook_api, event(org_id, user_id, 3, "user.removed"))
    await processed(db, user_id, 3)
    assert await user_of(db, tenant.account_id, address) is None
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE user_id = $1", user["id"]) == 0
    assert _models_status(api, key) == 401
    assert _models_status(api, other_key) == 200
    link = await db.fetchrow("SELECT * FROM zitadel_users WHERE zitadel_user_id = $1", user_id)
    assert (link["state"], link["user_id"], link["last_sequence"]) == ("removed", None, 3)


async def test_added_adopts_an_existing_user_with_that_email(webhook_api, admin, org, db):
    tenant, org_id = org
    user_id = zitadel_id()
    address = f"{user_id}@example.com"
    existing = admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": address, "user_role": "team_admin"})
    post(webhook_api, event(org_id, user_id, 1, "user.human.added", {"email": address, "displayName": "Existing"}))
    await processed(db, user_id)
    user = await user_of(db, tenant.account_id, address)
    assert str(user["id"]) == existing["user_id"]
    assert user["user_role"] == "team_admin"  # the webhook does not touch roles
    assert json.loads(user["metadata"])["name"] == "Existing"
