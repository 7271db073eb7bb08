"""/user/*: creating, reading, listing, changing and deleting the users of an account."""

from __future__ import annotations

import time
import uuid

from tests.conftest import make_tenant


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def _eventually_status(admin, method: str, path: str, key: str, status: int) -> int:
    """Cache invalidation crosses Redis pub/sub: allow it a moment before judging."""
    deadline = time.monotonic() + 3
    while True:
        got = admin.call(method, path, key=key).status_code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_new_user_is_returned_and_info_shows_its_keys_and_teams(admin, tenant):
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "research"})
    org = admin.ok("POST", "/organization/new", tenant.account_id, json={"organization_alias": "emea"})
    address = _email()
    user = admin.ok("POST", "/user/new", tenant.account_id, json={
        "user_email": address.upper(), "teams": [team["team_id"]], "max_budget": 12.5,
        "organization_id": org["organization_id"], "metadata": {"cost_center": "42"},
    })
    assert user["user_email"] == address  # stored lower-cased
    assert user["user_role"] == "internal_user"
    assert user["teams"] == [team["team_id"]]
    assert (user["max_budget"], user["spend"]) == (12.5, 0.0)
    assert user["organization_id"] == org["organization_id"]
    assert user["metadata"] == {"cost_center": "42"}
    assert user["created_at"]

    key = admin.generate_key(tenant.account_id, user_id=user["user_id"])
    info = admin.ok("GET", "/user/info", tenant.account_id, params={"user_id": user["user_id"]})
    assert info["user_id"] == user["user_id"]
    assert info["user_info"] == user
    assert info["keys"] == [key["token"]]
    assert [t["team_id"] for t in info["teams"]] == [team["team_id"]]
    assert info["teams"][0]["members"] == [{"user_id": user["user_id"], "user_email": address, "role": "user"}]


async def test_email_is_unique_per_account_ignoring_case(admin, tenant, fake, db):
    address = _email()
    admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": address})
    again = admin.call("POST", "/user/new", tenant.account_id, json={"user_email": address.upper()})
    assert again.status_code == 409
    assert again.json()["error"]["param"] == "user_email"
    assert await db.fetchval("SELECT count(*) FROM users WHERE account_id = $1", uuid.UUID(tenant.account_id)) == 1
    # Another account is another namespace.
    other = make_tenant(admin, fake)
    admin.ok("POST", "/user/new", other.account_id, json={"user_email": address})

    second = admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": _email()})
    clash = admin.call("POST", "/user/update", tenant.account_id,
                       json={"user_id": second["user_id"], "user_email": address})
    assert clash.status_code == 409


async def test_roles_are_checked_and_super_admin_cannot_be_granted(admin, tenant, db):
    denied = admin.call("POST", "/user/new", tenant.account_id, json={"user_email": _email(),
                                                                      "user_role": "super_admin"})
    assert denied.status_code == 403
    assert denied.json()["error"]["type"] == "permission_error"
    unknown = admin.call("POST", "/user/new", tenant.account_id, json={"user_email": _email(),
                                                                       "user_role": "proxy_owner"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "user_role"
    assert await db.fetchval("SELECT count(*) FROM users WHERE account_id = $1", uuid.UUID(tenant.account_id)) == 0

    user = admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": _email(), "user_role": "org_admin"})
    assert user["user_role"] == "org_admin"
    escalate = admin.call("POST", "/user/update", tenant.account_id,
                          json={"user_id": user["user_id"], "user_role": "super_admin"})
    assert escalate.status_code == 403
    assert await db.fetchval("SELECT user_role FROM users WHERE id = $1", uuid.UUID(user["user_id"])) == "org_admin"


async def test_references_outside_the_account_are_not_found(admin, tenant, fake, db):
    other = make_tenant(admin, fake)
    foreign_team = admin.ok("POST", "/team/new", other.account_id, json={"team_alias": "theirs"})
    foreign_org = admin.ok("POST", "/organization/new", other.account_id, json={"organization_alias": "theirs"})
    for body in ({"teams": [foreign_team["team_id"]]}, {"organization_id": foreign_org["organization_id"]},
                 {"teams": [str(uuid.uuid4())]}):
        response = admin.call("POST", "/user/new", tenant.account_id, json={"user_email": _email(), **body})
        assert response.status_code == 404, body
    assert await db.fetchval("SELECT count(*) FROM users WHERE account_id = $1", uuid.UUID(tenant.account_id)) == 0

    foreign_user = admin.ok("POST", "/user/new", other.account_id, json={"user_email": _email()})
    assert admin.call("GET", "/user/info", tenant.account_id,
                      params={"user_id": foreign_user["user_id"]}).status_code == 404
    assert admin.call("POST", "/user/update", tenant.account_id,
                      json={"user_id": foreign_user["user_id"], "max_budget": 1}).status_code == 404
    assert await db.fetchval("SELECT max_budget FROM users WHERE id = $1", uuid.UUID(foreign_user["user_id"])) is None
    assert admin.call("GET", "/user/info", tenant.account_id, params={"user_id": "nope"}).status_code == 400


def test_list_is_paginated_oldest_first(admin, tenant):
    created = [admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": _email()})["user_id"]
               for _ in range(3)]
    first = admin.ok("GET", "/user/list", tenant.account_id, params={"page": 1, "page_size": 2})
    second = admin.ok("GET", "/user/list", tenant.account_id, params={"page": 2, "page_size": 2})
    assert (first["total"], first["page"], first["page_size"], first["total_pages"]) == (3, 1, 2, 2)
    assert [u["user_id"] for u in first["users"] + second["users"]] == created
    assert admin.call("GET", "/user/list", tenant.account_id, params={"page_size": 0}).status_code == 400


def test_update_changes_fields_and_a_role_change_reaches_the_users_keys(admin, tenant):
    user = admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": _email(),
                                                                  "user_role": "account_admin"})
    key = admin.generate_key(tenant.account_id, user_id=user["user_id"])["key"]
    assert admin.call("GET", "/user/list", key=key).status_code == 200  # an account admin's key manages

    updated = admin.ok("POST", "/user/update", tenant.account_id, json={
        "user_id": user["user_id"], "user_role": "internal_user", "max_budget": 3, "metadata": {"a": 1}})
    assert (updated["user_role"], updated["max_budget"], updated["metadata"]) == ("internal_user", 3.0, {"a": 1})
    assert updated["user_email"] == user["user_email"]  # untouched fields stay
    assert _eventually_status(admin, "GET", "/user/list", key, 403) == 403


async def test_delete_takes_the_users_keys_and_memberships_all_or_nothing(admin, tenant, db):
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "t"})
    user = admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": _email(),
                                                                  "teams": [team["team_id"]]})
    keeper = admin.ok("POST", "/user/new", tenant.account_id, json={"user_email": _email()})
    key = admin.generate_key(tenant.account_id, user_id=user["user_id"])
    chat = {"model": tenant.model, "messages": [{"role": "user", "content": "hi"}]}
    assert admin.call("POST", "/v1/chat/completions", key=key["key"], json=chat).status_code == 200

    partial = admin.call("POST", "/user/delete", tenant.account_id,
                         json={"user_ids": [keeper["user_id"], str(uuid.uuid4())]})
    assert partial.status_code == 404
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", uuid.UUID(keeper["user_id"])) == 1

    deleted = admin.ok("POST", "/user/delete", tenant.account_id, json={"user_ids": [user["user_id"]]})
    assert deleted == {"deleted_users": [user["user_id"]], "deleted_keys": [key["token"]]}
    user_id = uuid.UUID(user["user_id"])
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 0
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE user_id = $1", user_id) == 0
    assert await db.fetchval("SELECT count(*) FROM team_memberships WHERE user_id = $1", user_id) == 0
    assert admin.call("POST", "/v1/chat/completions", key=key["key"], json=chat).status_code == 401
    assert admin.call("GET", "/user/info", tenant.account_id, params={"user_id": user["user_id"]}).status_code == 404
    assert admin.ok("GET", "/team/info", tenant.account_id, params={"team_id": team["team_id"]})[
        "team_info"]["members"] == []
