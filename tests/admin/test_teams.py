"""/team/*: teams, their members, and how a team's settings reach the keys in it."""

from __future__ import annotations

import time
import uuid

from tests.conftest import CANARY_PROVIDER_KEY, make_tenant


def _user(admin, account_id: str, **fields) -> dict:
    return admin.ok("POST", "/user/new", account_id, json={"user_email": f"u-{uuid.uuid4().hex[:10]}@example.com",
                                                           **fields})


def _chat(admin, key: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return admin.call("POST", "/v1/chat/completions", key=key, json=body).status_code


def _eventually_chat(admin, key: str, model: str, status: int) -> int:
    """Cache invalidation crosses Redis pub/sub: allow it a moment before judging."""
    deadline = time.monotonic() + 3
    while True:
        got = _chat(admin, key, model)
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_new_team_with_members_and_info_with_keys(admin, tenant):
    ann = _user(admin, tenant.account_id)
    bob = _user(admin, tenant.account_id)
    cyd = _user(admin, tenant.account_id)
    team = admin.ok("POST", "/team/new", tenant.account_id, json={
        "team_alias": "  platform ", "models": [tenant.model], "max_budget": 100, "budget_duration": "30d",
        "rpm_limit": 60, "tpm_limit": 10000, "metadata": {"owner": "ops"},
        "members": [{"user_id": ann["user_id"], "role": "admin"}, cyd["user_id"]],
        "members_with_roles": [{"user_email": bob["user_email"].upper()}],
    })
    assert team["team_alias"] == "platform"
    assert (team["models"], team["max_budget"], team["budget_duration"]) == ([tenant.model], 100.0, "30d")
    assert (team["rpm_limit"], team["tpm_limit"], team["spend"], team["blocked"]) == (60, 10000, 0.0, False)
    assert team["metadata"] == {"owner": "ops"} and team["organization_id"] is None
    assert {(m["user_id"], m["role"]) for m in team["members"]} == {
        (ann["user_id"], "admin"), (bob["user_id"], "user"), (cyd["user_id"], "user")}

    key = admin.generate_key(tenant.account_id, team_id=team["team_id"])
    info = admin.ok("GET", "/team/info", tenant.account_id, params={"team_id": team["team_id"]})
    assert info["team_id"] == team["team_id"]
    assert info["team_info"] == team
    assert info["keys"] == [key["token"]]
    assert admin.ok("GET", "/user/info", tenant.account_id, params={"user_id": ann["user_id"]})[
        "user_info"]["teams"] == [team["team_id"]]
    listed = admin.ok("GET", "/team/list", tenant.account_id)
    assert [t["team_id"] for t in listed] == [team["team_id"]]
    assert admin.ok("GET", "/team/list", tenant.account_id, params={"user_id": bob["user_id"]}) == listed

    bad = admin.call("POST", "/team/new", tenant.account_id, json={"team_alias": " "})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "team_alias")
    assert admin.call("POST", "/team/new", tenant.account_id,
                      json={"team_alias": "x", "budget_duration": "often"}).status_code == 400


async def test_member_add_and_delete(admin, tenant, db):
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "t"})
    ann = _user(admin, tenant.account_id)
    bob = _user(admin, tenant.account_id)

    one = admin.ok("POST", "/team/member_add", tenant.account_id,
                   json={"team_id": team["team_id"], "member": {"user_email": ann["user_email"], "role": "admin"}})
    assert [(m["user_id"], m["role"]) for m in one["members"]] == [(ann["user_id"], "admin")]
    # A list, and adding someone again only sets their role: a script can be re-run.
    both = admin.ok("POST", "/team/member_add", tenant.account_id, json={
        "team_id": team["team_id"], "member": [{"user_id": bob["user_id"]}, {"user_id": ann["user_id"]}]})
    assert {(m["user_id"], m["role"]) for m in both["members"]} == {(ann["user_id"], "user"), (bob["user_id"], "user")}

    nobody = admin.call("POST", "/team/member_add", tenant.account_id,
                        json={"team_id": team["team_id"], "member": {"user_email": "ghost@example.com"}})
    assert nobody.status_code == 404
    bad_role = admin.call("POST", "/team/member_add", tenant.account_id,
                          json={"team_id": team["team_id"], "member": {"user_id": bob["user_id"], "role": "owner"}})
    assert bad_role.status_code == 400
    assert await db.fetchval("SELECT count(*) FROM team_memberships WHERE team_id = $1",
                             uuid.UUID(team["team_id"])) == 2

    # Removing a member also revokes the keys they hold in that team (not their other keys).
    team_key = admin.generate_key(tenant.account_id, user_id=bob["user_id"], team_id=team["team_id"])
    own_key = admin.generate_key(tenant.account_id, user_id=bob["user_id"])
    after = admin.ok("POST", "/team/member_delete", tenant.account_id,
                     json={"team_id": team["team_id"], "user_email": bob["user_email"]})
    assert [m["user_id"] for m in after["members"]] == [ann["user_id"]]
    assert _chat(admin, team_key["key"], tenant.model) == 401
    assert _chat(admin, own_key["key"], tenant.model) == 200
    again = admin.call("POST", "/team/member_delete", tenant.account_id,
                       json={"team_id": team["team_id"], "user_id": bob["user_id"]})
    assert again.status_code == 404


def test_team_models_and_blocking_reach_its_keys(admin, tenant, fake):
    admin.add_model(tenant.account_id, "other-model", fake.base_url, api_key=CANARY_PROVIDER_KEY)
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "t"})
    key = admin.generate_key(tenant.account_id, team_id=team["team_id"])["key"]
    assert _chat(admin, key, tenant.model) == 200

    admin.ok("POST", "/team/update", tenant.account_id, json={"team_id": team["team_id"], "models": ["other-model"]})
    assert _eventually_chat(admin, key, tenant.model, 403) == 403
    assert _chat(admin, key, "other-model") == 200

    blocked = admin.ok("POST", "/team/update", tenant.account_id, json={"team_id": team["team_id"], "blocked": True})
    assert blocked["blocked"] is True and blocked["models"] == ["other-model"]
    assert _eventually_chat(admin, key, "other-model", 401) == 401
    admin.ok("POST", "/team/update", tenant.account_id, json={"team_id": team["team_id"], "blocked": False})
    assert _eventually_chat(admin, key, "other-model", 200) == 200


async def test_organization_bounds_team_models_and_foreign_references_are_404(admin, tenant, fake, db):
    org = admin.ok("POST", "/organization/new", tenant.account_id,
                   json={"organization_alias": "o", "models": [tenant.model]})
    outside = admin.call("POST", "/team/new", tenant.account_id, json={
        "team_alias": "t", "organization_id": org["organization_id"], "models": ["gpt-5"]})
    assert (outside.status_code, outside.json()["error"]["param"]) == (400, "models")
    team = admin.ok("POST", "/team/new", tenant.account_id,
                    json={"team_alias": "t", "organization_id": org["organization_id"], "models": [tenant.model]})
    assert team["organization_id"] == org["organization_id"]
    assert [t["team_id"] for t in admin.ok("GET", "/team/list", tenant.account_id,
                                           params={"organization_id": org["organization_id"]})] == [team["team_id"]]

    other = make_tenant(admin, fake)
    their_org = admin.ok("POST", "/organization/new", other.account_id, json={"organization_alias": "theirs"})
    their_user = _user(admin, other.account_id)
    their_team = admin.ok("POST", "/team/new", other.account_id, json={"team_alias": "theirs"})
    account = uuid.UUID(tenant.account_id)
    teams_before = await db.fetchval("SELECT count(*) FROM teams WHERE account_id = $1", account)
    for path, body in (
        ("/team/new", {"team_alias": "x", "organization_id": their_org["organization_id"]}),
        ("/team/new", {"team_alias": "x", "members": [their_user["user_id"]]}),
        ("/team/new", {"team_alias": "x", "members_with_roles": [{"user_email": their_user["user_email"]}]}),
        ("/team/update", {"team_id": team["team_id"], "organization_id": their_org["organization_id"]}),
        ("/team/update", {"team_id": their_team["team_id"], "team_alias": "mine"}),
        ("/team/member_add", {"team_id": team["team_id"], "member": {"user_id": their_user["user_id"]}}),
        ("/team/member_add", {"team_id": their_team["team_id"], "member": {"user_id": their_user["user_id"]}}),
    ):
        assert admin.call("POST", path, tenant.account_id, json=body).status_code == 404, (path, body)
    assert await db.fetchval("SELECT count(*) FROM teams WHERE account_id = $1", account) == teams_before
    assert await db.fetchval("SELECT organization_id FROM teams WHERE id = $1",
                             uuid.UUID(team["team_id"])) == uuid.UUID(org["organization_id"])
    assert await db.fetchval("SELECT team_alias FROM teams WHERE id = $1", uuid.UUID(their_team["team_id"])) == "theirs"
    assert await db.fetchval("SELECT count(*) FROM team_memberships WHERE account_id = $1", account) == 0


async def test_delete_takes_the_teams_keys_and_memberships_all_or_nothing(admin, tenant, db):
    team = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "doomed"})
    kept = admin.ok("POST", "/team/new", tenant.account_id, json={"team_alias": "kept"})
    member = _user(admin, tenant.account_id, teams=[team["team_id"]])
    key = admin.generate_key(tenant.account_id, team_id=team["team_id"])
    assert _chat(admin, key["key"], tenant.model) == 200

    partial = admin.call("POST", "/team/delete", tenant.account_id,
                         json={"team_ids": [kept["team_id"], str(uuid.uuid4())]})
    assert partial.status_code == 404
    assert await db.fetchval("SELECT count(*) FROM teams WHERE id = $1", uuid.UUID(kept["team_id"])) == 1

    deleted = admin.ok("POST", "/team/delete", tenant.account_id, json={"team_ids": [team["team_id"]]})
    assert deleted == {"deleted_teams": [team["team_id"]], "deleted_keys": [key["token"]]}
    team_id = uuid.UUID(team["team_id"])
    for table in ("teams WHERE id", "virtual_keys WHERE team_id", "team_memberships WHERE team_id"):
        assert await db.fetchval(f"SELECT count(*) FROM {table} = $1", team_id) == 0, table
    assert _chat(admin, key["key"], tenant.model) == 401
    assert admin.ok("GET", "/user/info", tenant.account_id, params={"user_id": member["user_id"]})["teams"] == []
    assert admin.call("GET", "/team/info", tenant.account_id, params={"team_id": team["team_id"]}).status_code == 404
