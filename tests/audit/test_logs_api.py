"""`GET /audit/logs` over the real API: filters, cursor pages without gaps or repeats, each account sees only
its own events, the super admin all of them (and those of no account), only admins may read, bad filters
are 400s that name the parameter."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import httpx
import pytest

from app.audit.actor import Actor
from tests.audit.outbox_support import make_events, new_account, piccolo
from tests.conftest import MASTER_KEY

__all__ = ["piccolo"]  # fixture

FIELDS = {"event_id", "account_id", "occurred_at", "actor_type", "actor_id", "actor_role", "actor_ip", "action",
          "target_type", "target_id", "changes", "detail", "outcome", "request_id"}


def _get(api, params: dict | None = None, account_id=None, key: str = MASTER_KEY) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    if account_id:
        headers["x-alchemi-account-id"] = str(account_id)
    return httpx.get(f"{api.url}/audit/logs", params=params or {}, headers=headers, timeout=30)


def _ids(api, params: dict, account_id=None, key: str = MASTER_KEY) -> list[str]:
    response = _get(api, {"limit": 500, **params}, account_id, key)
    assert response.status_code == 200, response.text
    return [entry["event_id"] for entry in response.json()["data"]]


def _all_pages(api, params: dict, account_id=None) -> tuple[list[str], int]:
    ids, cursor, pages = [], None, 0
    while True:
        response = _get(api, {**params, **({"cursor": cursor} if cursor else {})}, account_id)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [entry["event_id"] for entry in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


async def test_filters_pick_the_events_asked_for(api, db, piccolo):
    account_id = await new_account(db)
    alice, bob = Actor("user", f"alice-{uuid.uuid4().hex[:6]}", "account_admin"), Actor("key", str(uuid.uuid4()))
    created = await make_events(account_id, 3, action="key.created", target_type="key", actor=alice)
    deleted = await make_events(account_id, 2, action="key.deleted", target_type="key", actor=bob)
    teams = await make_events(account_id, 2, action="team.created", target_type="team", actor=alice)
    refused = await make_events(account_id, 1, action="login.failed", target_type="login", outcome="failure")
    everything = created + deleted + teams + refused
    as_text = lambda ids: sorted(map(str, ids))  # noqa: E731

    assert sorted(_ids(api, {}, account_id)) == as_text(everything)
    assert sorted(_ids(api, {"action": "key.created"}, account_id)) == as_text(created)
    assert sorted(_ids(api, {"action": "key.*"}, account_id)) == as_text(created + deleted)
    assert sorted(_ids(api, {"action": "*"}, account_id)) == as_text(everything)
    assert sorted(_ids(api, {"actor": alice.id}, account_id)) == as_text(created + teams)
    assert sorted(_ids(api, {"actor_type": "key"}, account_id)) == as_text(deleted)
    assert sorted(_ids(api, {"target_type": "team"}, account_id)) == as_text(teams)
    assert _ids(api, {"target_type": "team", "target_id": "t-1"}, account_id) == [str(teams[1])]
    assert _ids(api, {"outcome": "failure"}, account_id) == [str(refused[0])]
    assert _ids(api, {"action": "key_*"}, account_id) == []  # '_' is a letter here, not a wildcard

    for event_id, moment in zip(created, ("2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-03T10:00:00Z")):
        await db.execute("UPDATE audit_events SET occurred_at = $2 WHERE id = $1", event_id,
                         datetime.fromisoformat(moment))
    assert _ids(api, {"start_time": "2026-01-02", "end_time": "2026-01-02"}, account_id) == [str(created[1])]
    assert _ids(api, {"start_time": "2026-01-01T10:00:00Z", "end_time": "2026-01-02T10:00:00+00:00"},
                account_id) == [str(created[1]), str(created[0])]  # newest first; both ends inclusive
    assert sorted(_ids(api, {"end_time": "2026-01-31"}, account_id)) == as_text(created)

    entry = _get(api, {"action": "key.deleted", "limit": 1}, account_id).json()["data"][0]
    assert set(entry) == FIELDS, "the outbox's own columns are never shown"
    assert (entry["account_id"], entry["actor_type"], entry["actor_id"]) == (str(account_id), "key", bob.id)


async def test_cursor_pages_have_no_gaps_or_repeats_while_events_arrive(api, db, piccolo):
    account_id = await new_account(db)
    ids = await make_events(account_id, 23)
    newest_first = [str(row["id"]) for row in await db.fetch(
        "SELECT id FROM audit_events WHERE account_id = $1 ORDER BY occurred_at DESC, id DESC", account_id)]
    assert sorted(newest_first) == sorted(map(str, ids))

    seen, pages = _all_pages(api, {"limit": 5}, account_id)
    assert (seen, pages) == (newest_first, 5)

    first = _get(api, {"limit": 10}, account_id).json()
    later = await make_events(account_id, 4)  # recorded while the reader pages
    rest, _ = _all_pages(api, {"limit": 10, "cursor": first["next_cursor"]}, account_id)
    assert [e["event_id"] for e in first["data"]] + rest == newest_first
    assert set(_ids(api, {}, account_id)) == set(newest_first) | set(map(str, later))


@pytest.fixture(scope="module")
def accounts(admin):
    """Two accounts made through the API, each with an admin's key and keys of the roles below."""
    made = {}
    for name in ("a", "b"):
        account_id = admin.create_account(f"audit-logs-{name}-{uuid.uuid4().hex[:6]}")
        org = admin.ok("POST", "/organization/new", account_id, json={"organization_alias": "o"})["organization_id"]
        team = admin.ok("POST", "/team/new", account_id,
                        json={"team_alias": "t", "organization_id": org})["team_id"]
        keys = {}
        for role in ("account_admin", "org_admin", "team_admin", "internal_user", "internal_user_viewer"):
            body = {"user_email": f"{role}-{uuid.uuid4().hex[:8]}@logs.example.com", "user_role": role,
                    "teams": [team] if role != "account_admin" else []}
            if role != "account_admin":
                body["organization_id"] = org
            user_id = admin.ok("POST", "/user/new", account_id, json=body)["user_id"]
            keys[role] = admin.generate_key(account_id, user_id=user_id,
                                            team_id=team if role != "account_admin" else None)["key"]
        made[name] = (uuid.UUID(account_id), keys)
    return made


async def test_each_account_sees_only_its_own_and_the_super_admin_sees_all(api, piccolo, accounts):
    (a, a_keys), (b, _) = accounts["a"], accounts["b"]
    mine, theirs = await make_events(a, 3), await make_events(b, 3)
    nobodys = await make_events(None, 1, action="login.failed", target_type="login", outcome="failure")

    seen_by_a = _get(api, {"limit": 500}, key=a_keys["account_admin"]).json()["data"]
    assert {entry["account_id"] for entry in seen_by_a} == {str(a)}
    assert {str(i) for i in mine} <= {entry["event_id"] for entry in seen_by_a}
    # The account header is the super admin's: a tenant's key stays in its own account.
    assert set(_ids(api, {}, account_id=b, key=a_keys["account_admin"])) == {e["event_id"] for e in seen_by_a}
    assert not {str(i) for i in theirs + nobodys} & set(_ids(api, {}, account_id=b, key=a_keys["account_admin"]))

    everyone = set(_ids(api, {"target_type": "probe"})) | set(_ids(api, {"action": "login.failed"}))
    assert {str(i) for i in mine + theirs + nobodys} <= everyone
    only_b = _get(api, {"limit": 500}, account_id=b).json()["data"]
    assert {entry["account_id"] for entry in only_b} == {str(b)}
    assert {str(i) for i in theirs} <= {entry["event_id"] for entry in only_b}


def test_only_admins_read_the_trail(api, accounts):
    _, keys = accounts["a"]
    assert _get(api, key=keys["account_admin"]).status_code == 200
    for role in ("org_admin", "team_admin", "internal_user", "internal_user_viewer"):
        response = _get(api, key=keys[role])
        assert response.status_code == 403, (role, response.text)
        assert response.json()["error"]["type"] == "permission_error"
    assert _get(api, key="sk-not-a-key").status_code == 401


@pytest.mark.parametrize("params, param", [
    ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "many"}, "limit"),
    ({"start_time": "yesterday"}, "start_time"), ({"end_time": "2026-13-01"}, "end_time"),
    ({"start_time": "2026-02-01", "end_time": "2026-01-01"}, "start_time"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "WzEsMl0"}, "cursor"),
    ({"action": "key.*.x"}, "action"), ({"action": ""}, "action"), ({"action": "x" * 65}, "action"),
    ({"actor_type": "robot"}, "actor_type"), ({"outcome": "meh"}, "outcome"),
    ({"target_id": "nul\x00byte"}, "target_id"),
])
def test_bad_filters_are_400s_naming_the_parameter(api, params, param):
    response = _get(api, params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


async def test_the_super_admins_pages_across_accounts_join_up(api, db, piccolo):
    # Across every account the order is the same (occurred_at, id), so pages join up there too.
    for _ in range(2):
        await make_events(await new_account(db), 15)
    whole = _ids(api, {"limit": 30})
    first = _get(api, {"limit": 12}).json()
    second = _get(api, {"limit": 18, "cursor": first["next_cursor"]}).json()
    assert [e["event_id"] for e in first["data"] + second["data"]] == whole[:30]
    assert datetime.fromisoformat(first["data"][0]["occurred_at"]) <= datetime.now(timezone.utc)
