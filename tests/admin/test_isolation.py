"""Tenant isolation across every management route: another account's object id is a 404 that changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from app.db.tables import TENANT_TABLES
from tests.conftest import CANARY_PROVIDER_KEY


@dataclass
class World:
    account_id: str
    key: str
    key_id: str
    model_id: str
    user_id: str
    team_id: str
    organization_id: str


def _world(admin, fake, name: str) -> World:
    account_id = admin.create_account(name)
    organization_id = admin.ok("POST", "/organization/new", account_id, json={"organization_alias": "org"})["organization_id"]
    team_id = admin.ok("POST", "/team/new", account_id, json={"team_alias": "team", "organization_id": organization_id})["team_id"]
    user_id = admin.ok("POST", "/user/new", account_id, json={"user_email": f"u@{name}.example.com", "teams": [team_id]})["user_id"]
    model_id = admin.add_model(account_id, "gpt-4o-mini", fake.base_url, api_key=CANARY_PROVIDER_KEY)["model_id"]
    key = admin.generate_key(account_id, user_id=user_id, team_id=team_id)
    return World(account_id, key["key"], key["token"], model_id, user_id, team_id, organization_id)


@pytest.fixture(scope="module")
def worlds(admin, fake):
    suffix = uuid.uuid4().hex[:6]
    return _world(admin, fake, f"mine-{suffix}"), _world(admin, fake, f"theirs-{suffix}")


def _routes(mine: World, theirs: World) -> list[tuple[str, str, dict]]:
    """(method, path, request kwargs): each names an object of `theirs` while acting in `mine`."""
    return [
        ("GET", f"/key/info?key={theirs.key_id}", {}),
        ("GET", f"/key/info?key={theirs.key}", {}),
        ("POST", "/key/update", {"json": {"key": theirs.key_id, "key_alias": "stolen"}}),
        ("POST", "/key/update", {"json": {"key": theirs.key, "max_budget": 0}}),
        ("POST", "/key/update", {"json": {"key": mine.key_id, "team_id": theirs.team_id}}),
        ("POST", "/key/delete", {"json": {"keys": [theirs.key_id]}}),
        ("POST", "/key/delete", {"json": {"keys": [mine.key_id, theirs.key]}}),
        ("POST", "/key/generate", {"json": {"team_id": theirs.team_id}}),
        ("POST", "/key/generate", {"json": {"user_id": theirs.user_id}}),
        ("GET", f"/model/info?litellm_model_id={theirs.model_id}", {}),
        ("POST", "/model/delete", {"json": {"id": theirs.model_id}}),
        ("GET", f"/user/info?user_id={theirs.user_id}", {}),
        ("POST", "/user/new", {"json": {"user_email": "x@mine.example.com", "teams": [theirs.team_id]}}),
        ("POST", "/user/new", {"json": {"user_email": "y@mine.example.com", "organization_id": theirs.organization_id}}),
        ("POST", "/user/update", {"json": {"user_id": theirs.user_id, "user_role": "account_admin"}}),
        ("POST", "/user/delete", {"json": {"user_ids": [theirs.user_id]}}),
        ("POST", "/user/delete", {"json": {"user_ids": [mine.user_id, theirs.user_id]}}),
        ("GET", f"/team/info?team_id={theirs.team_id}", {}),
        ("GET", f"/team/list?organization_id={theirs.organization_id}", {}),
        ("POST", "/team/new", {"json": {"team_alias": "t", "organization_id": theirs.organization_id}}),
        ("POST", "/team/update", {"json": {"team_id": theirs.team_id, "team_alias": "stolen"}}),
        ("POST", "/team/member_add", {"json": {"team_id": theirs.team_id, "member": {"user_id": mine.user_id}}}),
        ("POST", "/team/member_add", {"json": {"team_id": mine.team_id, "member": {"user_id": theirs.user_id}}}),
        ("POST", "/team/member_delete", {"json": {"team_id": theirs.team_id, "user_id": theirs.user_id}}),
        ("POST", "/team/delete", {"json": {"team_ids": [theirs.team_id]}}),
        ("GET", f"/organization/info?organization_id={theirs.organization_id}", {}),
        ("POST", "/organization/update", {"json": {"organization_id": theirs.organization_id, "organization_alias": "x"}}),
        ("DELETE", "/organization/delete", {"json": {"organization_ids": [theirs.organization_id]}}),
        ("GET", f"/spend/logs?api_key={theirs.key}", {}),
    ]


async def _snapshot(db, account_id: str) -> dict[str, list]:
    snapshot = {}
    for table in TENANT_TABLES:
        name = table._meta.tablename
        rows = await db.fetch(f"SELECT * FROM {name} WHERE account_id = $1 ORDER BY 1", uuid.UUID(account_id))
        snapshot[name] = [dict(row) for row in rows]
    return snapshot


async def test_every_route_answers_404_for_another_accounts_objects_and_changes_nothing(admin, worlds, db):
    mine, theirs = worlds
    before = (await _snapshot(db, mine.account_id), await _snapshot(db, theirs.account_id))
    answers = {}
    for method, path, kwargs in _routes(mine, theirs):
        response = admin.call(method, path, mine.account_id, **kwargs)
        answers[f"{method} {path} {kwargs}"] = (response.status_code, response.json()["error"]["type"]
                                                 if response.status_code >= 400 else response.text[:200])
    after = (await _snapshot(db, mine.account_id), await _snapshot(db, theirs.account_id))

    assert {route: answer for route, answer in answers.items() if answer != (404, "not_found_error")} == {}
    assert after == before, "a refused call must not change either account"


def test_lists_and_spend_show_only_the_callers_account(admin, worlds, api):
    mine, theirs = worlds
    chat = httpx.post(f"{api.url}/v1/chat/completions", headers={"authorization": f"Bearer {theirs.key}"},
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 200
    theirs_ids = {theirs.key_id, theirs.user_id, theirs.team_id, theirs.organization_id, theirs.model_id}
    for path in ("/key/list?return_full_object=true", "/user/list", "/team/list", "/organization/list", "/model/info",
                 f"/spend/logs?api_key={theirs.key_id}", f"/spend/logs?user_id={theirs.user_id}", "/spend/logs"):
        body = admin.ok("GET", path, mine.account_id)
        text = str(body)
        assert not any(ident in text for ident in theirs_ids), path


def test_an_account_admins_key_cannot_reach_another_account(admin, worlds, api):
    mine, theirs = worlds
    admin.ok("POST", "/user/update", mine.account_id, json={"user_id": mine.user_id, "user_role": "account_admin"})
    headers = {"authorization": f"Bearer {mine.key}", "x-alchemi-account-id": theirs.account_id}
    # The header is the super admin's; a tenant key always acts in its own account.
    response = httpx.get(f"{api.url}/team/info?team_id={theirs.team_id}", headers=headers)
    assert response.status_code == 404
    assert httpx.get(f"{api.url}/team/info?team_id={mine.team_id}", headers=headers).status_code == 200
    assert httpx.get(f"{api.url}/accounts/{theirs.account_id}", headers=headers).status_code == 403
    assert httpx.get(f"{api.url}/accounts", headers=headers).status_code == 403


def test_a_plain_users_key_cannot_manage_anything(admin, worlds, api, fake):
    mine, _ = worlds
    plain = admin.generate_key(mine.account_id)["key"]
    for method, path in (("GET", "/key/list"), ("POST", "/key/generate"), ("GET", "/model/info"), ("GET", "/user/list")):
        response = httpx.request(method, f"{api.url}{path}", headers={"authorization": f"Bearer {plain}"}, json={})
        assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error", path
