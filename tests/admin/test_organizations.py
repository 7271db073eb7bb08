"""/organization/*: organizations of an account, and what deleting one may and may not take with it."""

from __future__ import annotations

import uuid

from tests.conftest import make_tenant


def test_new_info_list_and_update(admin, tenant):
    org = admin.ok("POST", "/organization/new", tenant.account_id, json={
        "organization_alias": "EMEA", "models": [tenant.model], "max_budget": 250.75, "metadata": {"region": "eu"}})
    assert (org["organization_alias"], org["models"], org["max_budget"]) == ("EMEA", [tenant.model], 250.75)
    assert (org["spend"], org["metadata"]) == (0.0, {"region": "eu"})
    assert org["organization_id"] and org["created_at"]
    team = admin.ok("POST", "/team/new", tenant.account_id,
                    json={"team_alias": "t", "organization_id": org["organization_id"]})

    info = admin.ok("GET", "/organization/info", tenant.account_id,
                    params={"organization_id": org["organization_id"]})
    assert {k: v for k, v in info.items() if k != "teams"} == org
    assert [t["team_id"] for t in info["teams"]] == [team["team_id"]]
    assert admin.ok("GET", "/organization/list", tenant.account_id) == [org]

    updated = admin.ok("POST", "/organization/update", tenant.account_id,
                       json={"organization_id": org["organization_id"], "max_budget": None, "metadata": {}})
    assert (updated["max_budget"], updated["metadata"], updated["organization_alias"]) == (None, {}, "EMEA")
    # LiteLLM's clients send PATCH for the same change.
    patched = admin.ok("PATCH", "/organization/update", tenant.account_id,
                       json={"organization_id": org["organization_id"], "organization_alias": "Europe"})
    assert patched["organization_alias"] == "Europe"
    assert admin.call("POST", "/organization/new", tenant.account_id,
                      json={"organization_alias": ""}).status_code == 400
    assert admin.call("POST", "/organization/new", tenant.account_id,
                      json={"organization_alias": "x", "max_budget": -1}).status_code == 400


def test_models_cannot_shrink_below_what_its_teams_use(admin, tenant):
    org = admin.ok("POST", "/organization/new", tenant.account_id,
                   json={"organization_alias": "o", "models": [tenant.model, "b"]})
    admin.ok("POST", "/team/new", tenant.account_id,
             json={"team_alias": "t", "organization_id": org["organization_id"], "models": ["b"]})
    shrink = admin.call("POST", "/organization/update", tenant.account_id,
                        json={"organization_id": org["organization_id"], "models": [tenant.model]})
    assert (shrink.status_code, shrink.json()["error"]["param"]) == (400, "models")
    assert "b" in shrink.json()["error"]["message"]
    assert admin.ok("POST", "/organization/update", tenant.account_id,
                    json={"organization_id": org["organization_id"], "models": []})["models"] == []


def test_moving_a_team_moves_its_keys(admin, tenant):
    first = admin.ok("POST", "/organization/new", tenant.account_id, json={"organization_alias": "one"})
    second = admin.ok("POST", "/organization/new", tenant.account_id, json={"organization_alias": "two"})
    team = admin.ok("POST", "/team/new", tenant.account_id,
                    json={"team_alias": "t", "organization_id": first["organization_id"]})
    key = admin.generate_key(tenant.account_id, team_id=team["team_id"])
    moved = admin.ok("POST", "/team/update", tenant.account_id,
                     json={"team_id": team["team_id"], "organization_id": second["organization_id"]})
    assert moved["organization_id"] == second["organization_id"]
    assert admin.ok("GET", "/key/info", tenant.account_id, params={"key": key["token"]})["info"][
        "organization_id"] == second["organization_id"]
    assert admin.ok("GET", "/organization/info", tenant.account_id,
                    params={"organization_id": first["organization_id"]})["teams"] == []


async def test_delete_refuses_while_teams_belong_to_it(admin, tenant, db):
    org = admin.ok("POST", "/organization/new", tenant.account_id, json={"organization_alias": "o"})
    team = admin.ok("POST", "/team/new", tenant.account_id,
                    json={"team_alias": "t", "organization_id": org["organization_id"]})
    user = admin.ok("POST", "/user/new", tenant.account_id,
                    json={"user_email": f"{uuid.uuid4().hex[:8]}@example.com", "organization_id": org["organization_id"]})

    refused = admin.call("DELETE", "/organization/delete", tenant.account_id,
                         json={"organization_ids": [org["organization_id"]]})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["param"], error["code"]) == ("organization_ids", "organization_has_teams")
    assert "1 team" in error["message"] and "/team/delete" in error["message"]
    org_id = uuid.UUID(org["organization_id"])
    assert await db.fetchval("SELECT count(*) FROM organizations WHERE id = $1", org_id) == 1

    admin.ok("POST", "/team/delete", tenant.account_id, json={"team_ids": [team["team_id"]]})
    deleted = admin.ok("DELETE", "/organization/delete", tenant.account_id,
                       json={"organization_ids": [org["organization_id"]]})
    assert deleted == {"deleted_organizations": [org["organization_id"]]}
    assert await db.fetchval("SELECT count(*) FROM organizations WHERE id = $1", org_id) == 0
    # Its users stay, without an organization.
    assert admin.ok("GET", "/user/info", tenant.account_id,
                    params={"user_id": user["user_id"]})["user_info"]["organization_id"] is None
    assert admin.call("GET", "/organization/info", tenant.account_id,
                      params={"organization_id": org["organization_id"]}).status_code == 404


async def test_unknown_or_foreign_organizations_are_not_found_and_unchanged(admin, tenant, fake, db):
    other = make_tenant(admin, fake)
    theirs = admin.ok("POST", "/organization/new", other.account_id, json={"organization_alias": "theirs"})
    mine = admin.ok("POST", "/organization/new", tenant.account_id, json={"organization_alias": "mine"})
    assert admin.call("GET", "/organization/info", tenant.account_id,
                      params={"organization_id": theirs["organization_id"]}).status_code == 404
    assert admin.call("POST", "/organization/update", tenant.account_id,
                      json={"organization_id": theirs["organization_id"], "organization_alias": "x"}).status_code == 404
    both = admin.call("DELETE", "/organization/delete", tenant.account_id,
                      json={"organization_ids": [mine["organization_id"], theirs["organization_id"]]})
    assert both.status_code == 404
    rows = await db.fetch("SELECT organization_alias FROM organizations WHERE id = ANY($1::uuid[]) ORDER BY 1",
                          [uuid.UUID(mine["organization_id"]), uuid.UUID(theirs["organization_id"])])
    assert [row["organization_alias"] for row in rows] == ["mine", "theirs"]
    assert admin.ok("GET", "/organization/list", tenant.account_id) == [mine]
