"""Roles: every management route of the app walked with every role's real key, and the escalation rules.

The routes come from the app itself (app.asgi.ROUTES) and the expectations from the role table
(app.auth.rbac.PERMISSIONS), so a new route without an entry, or an entry without a call here, fails.
Each role calls with a key of a real user holding that role, made by the super admin (/user/new, then
/key/generate). An allowed call succeeds; a refused one is 403 permission_error and changes nothing in
the database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from litestar import Litestar

from app.admin.access import permitted
from app.asgi import ROUTES
from app.auth import rbac
from app.auth.principal import (ACCOUNT_ADMIN, INTERNAL_USER, INTERNAL_USER_VIEWER, ORG_ADMIN, SUPER_ADMIN,
                                TEAM_ADMIN)
from app.db.tables import TENANT_TABLES
from tests.conftest import CANARY_PROVIDER_KEY

ROLES = rbac.ORDER


def _app_routes() -> dict[str, bool]:
    """Every "METHOD /path" the app serves → whether the role guard protects it."""
    app = Litestar(route_handlers=ROUTES, openapi_config=None)
    return {f"{method} {route.path_format}": permitted in handler.resolve_guards()
            for route in app.routes for handler in route.route_handlers
            for method in handler.http_methods if method != "OPTIONS"}


APP_ROUTES = _app_routes()
MANAGED = sorted(route for route, guarded in APP_ROUTES.items() if guarded)


def _email(tag: str = "u") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@rbac.example.com"


@dataclass
class World:
    """One account: organization `org` with team `team`, and `other_org` with `other_team`; a user of
    each role below the super admin (in `org`; the team roles also in `team`) with a key of their own."""

    admin: Any
    prefix: str
    account_id: str
    upstream: str
    org: str
    team: str
    other_org: str
    other_team: str
    users: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)

    def call(self, role: str, method: str, path: str, **kwargs: Any):
        if role == SUPER_ADMIN:
            return self.admin.call(method, path, self.account_id, **kwargs)
        return self.admin.call(method, path, key=self.keys[role], **kwargs)

    def master(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.admin.ok(method, path, self.account_id, **kwargs)

    def new_account(self) -> str:
        return self.admin.create_account(f"{self.prefix}-{uuid.uuid4().hex[:6]}")

    def new_user(self, role: str = INTERNAL_USER, **fields: Any) -> str:
        body = {"user_email": _email(), "user_role": role, "organization_id": self.org, "teams": [self.team]}
        return self.master("POST", "/user/new", json={**body, **fields})["user_id"]

    def new_key(self, user_id: str, team_id: str | None = None) -> dict:
        return self.master("POST", "/key/generate", json={"user_id": user_id, "team_id": team_id or self.team})


def make_world(admin, fake) -> World:
    prefix = f"rbac-{uuid.uuid4().hex[:8]}"
    account_id = admin.create_account(prefix)
    admin.add_model(account_id, "gpt-4o-mini", fake.base_url, api_key=CANARY_PROVIDER_KEY)
    ids = []
    for name in ("org", "other-org"):
        org = admin.ok("POST", "/organization/new", account_id, json={"organization_alias": name})["organization_id"]
        team = admin.ok("POST", "/team/new", account_id, json={"team_alias": name, "organization_id": org})["team_id"]
        ids += [org, team]
    world = World(admin, prefix, account_id, fake.base_url, ids[0], ids[1], ids[2], ids[3])
    world.keys[SUPER_ADMIN] = admin.master_key
    for role in ROLES[1:]:
        in_team = role in (TEAM_ADMIN, INTERNAL_USER, INTERNAL_USER_VIEWER)
        body: dict[str, Any] = {"user_email": _email(role), "user_role": role, "teams": [world.team] if in_team else []}
        if role != ACCOUNT_ADMIN:
            body["organization_id"] = world.org
        world.users[role] = world.master("POST", "/user/new", json=body)["user_id"]
        key = world.master("POST", "/key/generate", json={"user_id": world.users[role],
                                                          "team_id": world.team if in_team else None})
        world.keys[role], world.key_ids[role] = key["key"], key["token"]
    return world


@pytest.fixture(scope="module")
def world(admin, fake) -> World:
    return make_world(admin, fake)


@pytest.fixture
def fresh(admin, fake) -> World:
    return make_world(admin, fake)


# --- the walk -------------------------------------------------------------------------------------------

def _own(role: str) -> str:
    """Whose things a call reads: the internal roles their own, everyone else the internal user's."""
    return role if role in (INTERNAL_USER, INTERNAL_USER_VIEWER) else INTERNAL_USER


Case = Callable[[World, str], dict[str, Any]]  # → request kwargs, plus "path" for a route with parameters


def _account_with_admin(w: World, role: str) -> dict:
    account_id, email = w.new_account(), _email("boss")
    w.admin.ok("POST", f"/accounts/{account_id}/admins", json={"email": email})
    return {"path": f"/accounts/{account_id}/admins/{email}"}


def _invitation(w: World) -> str:
    return w.master("POST", "/invitation/new", json={"user_email": _email("invitee")})["id"]


def _model(w: World) -> str:
    body = {"model_name": "spare", "litellm_params": {"model": "openai/fake-model", "api_base": w.upstream}}
    return w.master("POST", "/model/new", json=body)["model_id"]


def _guard_pattern(w: World) -> str:
    body = {"name": f"pattern-{uuid.uuid4().hex[:8]}", "pattern": r"ACME-\d{6}"}
    return w.master("POST", "/copilot/guardrails/patterns", json=body)["id"]


# Each builds a request that succeeds for every role the table allows, on objects inside that role's
# reach; targets a call consumes (deleted, changed) are made fresh by the super admin first.
CASES: dict[str, Case] = {
    "POST /accounts": lambda w, r: {"json": {"name": f"{w.prefix}-{uuid.uuid4().hex[:6]}"}},
    "GET /accounts": lambda w, r: {},
    "GET /accounts/{account_id}": lambda w, r: {"path": f"/accounts/{w.account_id}"},
    "PATCH /accounts/{account_id}": lambda w, r: {"path": f"/accounts/{w.new_account()}",
                                                  "json": {"metadata": {"touched": r}}},
    "DELETE /accounts/{account_id}": lambda w, r: {"path": f"/accounts/{w.new_account()}"},
    "POST /accounts/{account_id}/admins": lambda w, r: {"path": f"/accounts/{w.new_account()}/admins",
                                                        "json": {"email": _email("boss")}},
    "DELETE /accounts/{account_id}/admins/{email}": _account_with_admin,
    "POST /model/new": lambda w, r: {"json": {"model_name": "extra", "litellm_params": {
        "model": "openai/fake-model", "api_base": w.upstream}}},
    "GET /model/info": lambda w, r: {},
    "POST /model/delete": lambda w, r: {"json": {"id": _model(w)}},
    "GET /router/settings": lambda w, r: {},
    "POST /router/settings": lambda w, r: {"json": w.master("GET", "/router/settings")},
    "GET /health": lambda w, r: {},
    "POST /key/generate": lambda w, r: {"json": {"team_id": w.team, "key_alias": f"by-{r}"}},
    "POST /key/update": lambda w, r: {"json": {"key": w.new_key(w.users[_own(r)])["token"], "key_alias": "renamed"}},
    "POST /key/delete": lambda w, r: {"json": {"keys": [w.new_key(w.users[_own(r)])["token"]]}},
    "GET /key/info": lambda w, r: {"params": {"key": w.key_ids[_own(r)]}},
    "GET /key/list": lambda w, r: {},
    "POST /user/new": lambda w, r: {"json": {"user_email": _email(), "teams": [w.team]}},
    "GET /user/info": lambda w, r: {"params": {"user_id": w.users[_own(r)]}},
    "GET /user/list": lambda w, r: {},
    "POST /user/update": lambda w, r: {"json": {"user_id": w.new_user(), "metadata": {"touched": r}}},
    "POST /user/delete": lambda w, r: {"json": {"user_ids": [w.new_user()]}},
    "POST /team/new": lambda w, r: {"json": {"team_alias": f"by-{r}", "organization_id": w.org}},
    "GET /team/info": lambda w, r: {"params": {"team_id": w.team}},
    "GET /team/list": lambda w, r: {},
    "POST /team/update": lambda w, r: {"json": {"team_id": w.team, "metadata": {"touched": r}}},
    "POST /team/member_add": lambda w, r: {"json": {"team_id": w.team, "member": {"user_id": w.new_user(),
                                                                                  "role": "admin"}}},
    "POST /team/member_delete": lambda w, r: {"json": {"team_id": w.team, "user_id": w.new_user()}},
    "POST /team/delete": lambda w, r: {"json": {"team_ids": [w.master(
        "POST", "/team/new", json={"team_alias": "doomed", "organization_id": w.org})["team_id"]]}},
    "POST /organization/new": lambda w, r: {"json": {"organization_alias": f"by-{r}"}},
    "GET /organization/info": lambda w, r: {"params": {"organization_id": w.org}},
    "GET /organization/list": lambda w, r: {},
    "POST /organization/update": lambda w, r: {"json": {"organization_id": w.org, "metadata": {"touched": r}}},
    "PATCH /organization/update": lambda w, r: {"json": {"organization_id": w.org, "metadata": {"touched": r}}},
    "DELETE /organization/delete": lambda w, r: {"json": {"organization_ids": [w.master(
        "POST", "/organization/new", json={"organization_alias": "doomed"})["organization_id"]]}},
    "POST /invitation/new": lambda w, r: {"json": {"user_email": _email("invitee")}},
    "GET /invitation/list": lambda w, r: {},
    "GET /invitation/info": lambda w, r: {"params": {"invitation_id": _invitation(w)}},
    "POST /invitation/delete": lambda w, r: {"json": {"invitation_id": _invitation(w)}},
    "GET /email/smtp": lambda w, r: {},
    "PUT /email/smtp": lambda w, r: {"json": {"host": "127.0.0.1", "port": 9, "tls": "none",
                                              "sender_email": "noreply@rbac.example.com"}},
    "DELETE /email/smtp": lambda w, r: {},
    "GET /sso/config": lambda w, r: {},
    "PUT /sso/config": lambda w, r: {"json": {"issuer": "https://idp.rbac.example.com", "client_id": "console",
                                              "enabled": False}},
    "DELETE /sso/config": lambda w, r: {},
    "GET /spend/logs": lambda w, r: {},
    "GET /global/spend/report": lambda w, r: {},
    "GET /spend/summary": lambda w, r: {},
    "GET /audit/logs": lambda w, r: {"params": {"action": "key.*"}},
    "GET /copilot/guardrails/config": lambda w, r: {},
    "PUT /copilot/guardrails/config": lambda w, r: {"json": {"scan_responses": False}},
    "POST /copilot/guardrails/config/{guard_type}/toggle": lambda w, r: {
        "path": "/copilot/guardrails/config/pii/toggle", "json": {"enabled": False}},
    "PUT /copilot/guardrails/config/{guard_type}": lambda w, r: {
        "path": "/copilot/guardrails/config/secret_detection", "json": {"action": "log"}},
    "GET /copilot/guardrails/patterns": lambda w, r: {},
    "POST /copilot/guardrails/patterns": lambda w, r: {"json": {"name": f"by-{r}", "pattern": r"ACME-\d{6}"}},
    "PATCH /copilot/guardrails/patterns/{pattern_id}": lambda w, r: {
        "path": f"/copilot/guardrails/patterns/{_guard_pattern(w)}", "json": {"enabled": False}},
    "DELETE /copilot/guardrails/patterns/{pattern_id}": lambda w, r: {
        "path": f"/copilot/guardrails/patterns/{_guard_pattern(w)}"},
    "GET /copilot/guardrails/audit": lambda w, r: {},
}


# Columns a worker writes on its own schedule (an invitation's delivery), not because of a request.
_BACKGROUND = {"invitations": ("token_hash", "sent_at", "sent_via")}
# Rows a refusal writes by design: the audit trail records each refused call (app/admin/access.py).
_REFUSALS = {"audit_events": " AND action <> 'access.denied'"}


async def _snapshot(db, prefix: str) -> dict[str, Any]:
    """A digest of every row of the test's accounts (theirs and the tenant tables'), and how many accounts exist."""
    mine = "SELECT id FROM accounts WHERE name LIKE $1"
    pattern = f"{prefix}%"
    digest = {"accounts": await db.fetchval(
        "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM accounts t WHERE name LIKE $1",
        pattern), "account_count": await db.fetchval("SELECT count(*) FROM accounts")}
    for table in TENANT_TABLES:
        name = table._meta.tablename
        row = "to_jsonb(t)" + "".join(f" - '{column}'" for column in _BACKGROUND.get(name, ()))
        digest[name] = await db.fetchval(
            f"SELECT md5(coalesce(string_agg(({row})::text, '|' ORDER BY ({row})::text), '')) FROM {name} t "
            f"WHERE account_id IN ({mine}){_REFUSALS.get(name, '')}", pattern)
    return digest


def test_every_route_is_in_the_role_table_or_declared_outside_it():
    for route, guarded in sorted(APP_ROUTES.items()):
        path = route.split(" ", 1)[1]
        if guarded:
            assert route in rbac.PERMISSIONS, f"{route} has the role guard but no entry in app/auth/rbac.py PERMISSIONS"
        else:
            assert path in rbac.UNGUARDED, (f"{route} has no role guard: guard it (app.admin.access.permitted) and add "
                                            "it to PERMISSIONS, or list it in UNGUARDED with the reason")
            assert route not in rbac.PERMISSIONS, f"{route} is in PERMISSIONS but its controller has no role guard"
    stale = sorted(set(rbac.PERMISSIONS) - set(APP_ROUTES))
    assert not stale, f"PERMISSIONS names routes the app does not serve: {stale}"
    missing, extra = sorted(set(MANAGED) - set(CASES)), sorted(set(CASES) - set(MANAGED))
    assert not missing and not extra, f"CASES (tests/auth/test_rbac.py) lacks requests for {missing}; stale: {extra}"


@pytest.mark.parametrize("route", MANAGED)
async def test_every_role_on_every_management_route(world, db, route):
    method, template = route.split(" ", 1)
    rule = rbac.PERMISSIONS[route]
    for role in ROLES:
        request = CASES[route](world, role)
        path = request.pop("path", template)
        before = await _snapshot(db, world.prefix)
        response = world.call(role, method, path, **request)
        if rule.allows(role):
            assert response.status_code in (200, 201), f"{role}: {route} → {response.status_code} {response.text}"
        else:
            assert response.status_code == 403, f"{role}: {route} → {response.status_code} {response.text}"
            error = response.json()["error"]
            assert (error["type"], error["code"]) == ("permission_error", "role_not_permitted"), (role, error)
            assert await _snapshot(db, world.prefix) == before, f"{role}: a refused {route} changed the database"


# --- escalation ----------------------------------------------------------------------------------------

def _refused(response, code: str) -> None:
    assert response.status_code == 403, response.text
    assert (response.json()["error"]["type"], response.json()["error"]["code"]) == ("permission_error", code)


def _eventually(call: Callable[[], Any], status: int):
    """A change to a caller's own limits reaches its cached principal over Redis pub/sub: allow it a moment."""
    deadline = time.monotonic() + 3
    while True:
        response = call()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


async def test_nobody_grants_a_role_above_their_own(fresh, db):
    w = fresh
    for role, above in ((ORG_ADMIN, ACCOUNT_ADMIN), (TEAM_ADMIN, ORG_ADMIN), (ACCOUNT_ADMIN, SUPER_ADMIN)):
        address = _email()
        response = w.call(role, "POST", "/user/new", json={"user_email": address, "user_role": above})
        assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error", (role, above)
        assert await db.fetchval("SELECT count(*) FROM users WHERE user_email = $1", address) == 0
    # Their own role, or one below, they may give.
    for role in (TEAM_ADMIN, ORG_ADMIN):
        created = w.call(role, "POST", "/user/new", json={"user_email": _email(), "user_role": TEAM_ADMIN})
        assert created.status_code == 200, created.text

    member = w.new_user()
    _refused(w.call(TEAM_ADMIN, "POST", "/user/update", json={"user_id": member, "user_role": ORG_ADMIN}),
             "role_above_yours")
    _refused(w.call(ORG_ADMIN, "POST", "/user/update", json={"user_id": member, "user_role": ACCOUNT_ADMIN}),
             "role_above_yours")
    assert await db.fetchval("SELECT user_role FROM users WHERE id = $1", uuid.UUID(member)) == INTERNAL_USER
    assert w.call(ACCOUNT_ADMIN, "POST", "/user/update",
                  json={"user_id": member, "user_role": ACCOUNT_ADMIN}).json()["user_role"] == ACCOUNT_ADMIN


async def test_nobody_edits_their_own_role_budget_or_place(fresh, db):
    w = fresh
    for role in (ACCOUNT_ADMIN, ORG_ADMIN, TEAM_ADMIN):
        me = w.users[role]
        for change in ({"user_role": INTERNAL_USER}, {"max_budget": 1000}, {"organization_id": w.other_org}):
            _refused(w.call(role, "POST", "/user/update", json={"user_id": me, **change}), "own_bounds")
    _refused(w.call(TEAM_ADMIN, "POST", "/team/update", json={"team_id": w.team, "max_budget": 1000}), "own_bounds")
    _refused(w.call(TEAM_ADMIN, "POST", "/team/update", json={"team_id": w.team, "blocked": False}), "own_bounds")
    _refused(w.call(ORG_ADMIN, "POST", "/organization/update", json={"organization_id": w.org, "max_budget": 1000}),
             "own_bounds")
    _refused(w.call(INTERNAL_USER, "POST", "/key/update", json={"key": w.key_ids[INTERNAL_USER], "max_budget": 1000}),
             "own_bounds")
    users = await db.fetch("SELECT user_role, max_budget, organization_id FROM users WHERE id = ANY($1::uuid[])",
                           [uuid.UUID(w.users[role]) for role in (ACCOUNT_ADMIN, ORG_ADMIN, TEAM_ADMIN)])
    assert sorted(row["user_role"] for row in users) == sorted([ACCOUNT_ADMIN, ORG_ADMIN, TEAM_ADMIN])
    assert {row["max_budget"] for row in users} == {None}
    assert await db.fetchval("SELECT max_budget FROM teams WHERE id = $1", uuid.UUID(w.team)) is None
    assert await db.fetchval("SELECT max_budget FROM organizations WHERE id = $1", uuid.UUID(w.org)) is None
    assert await db.fetchval("SELECT max_budget FROM virtual_keys WHERE id = $1",
                             uuid.UUID(w.key_ids[INTERNAL_USER])) is None
    # What is not a bound stays theirs to change.
    assert w.call(ACCOUNT_ADMIN, "POST", "/user/update",
                  json={"user_id": w.users[ACCOUNT_ADMIN], "metadata": {"desk": 4}}).status_code == 200
    renamed = w.call(TEAM_ADMIN, "POST", "/team/update", json={"team_id": w.team, "team_alias": "renamed"})
    assert renamed.status_code == 200, renamed.text


async def test_budgets_stay_within_the_callers_own(fresh, db):
    w = fresh
    w.master("POST", "/organization/update", json={"organization_id": w.org, "max_budget": 100})
    generous = partial(w.call, ORG_ADMIN, "POST", "/key/generate", json={"team_id": w.team, "max_budget": 500})
    _refused(_eventually(generous, 403), "budget_above_yours")
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE account_id = $1 AND max_budget = 500",
                             uuid.UUID(w.account_id)) == 0
    _refused(w.call(ORG_ADMIN, "POST", "/team/new", json={"team_alias": "rich", "max_budget": 100.01}),
             "budget_above_yours")
    _refused(w.call(ORG_ADMIN, "POST", "/user/update", json={"user_id": w.users[TEAM_ADMIN], "max_budget": 250}),
             "budget_above_yours")
    # The organization's budget binds every level inside it, a team admin's too.
    _refused(w.call(TEAM_ADMIN, "POST", "/key/generate", json={"max_budget": 101}), "budget_above_yours")
    assert w.call(ORG_ADMIN, "POST", "/key/generate", json={"team_id": w.team, "max_budget": 50}).status_code == 200
    # The account admin's ceiling is the account's budget (none here).
    assert w.call(ACCOUNT_ADMIN, "POST", "/key/generate", json={"max_budget": 500}).status_code == 200


async def test_objects_outside_the_callers_reach_are_not_found(fresh, db):
    w = fresh
    # An org admin and another organization's team: not found, and untouched.
    for method, path, kwargs in (
        ("GET", "/team/info", {"params": {"team_id": w.other_team}}),
        ("POST", "/team/update", {"json": {"team_id": w.other_team, "team_alias": "mine now"}}),
        ("POST", "/team/delete", {"json": {"team_ids": [w.other_team]}}),
        ("POST", "/team/member_add", {"json": {"team_id": w.other_team, "member": {"user_id": w.users[ORG_ADMIN]}}}),
        ("POST", "/key/generate", {"json": {"team_id": w.other_team}}),
        ("GET", "/organization/info", {"params": {"organization_id": w.other_org}}),
    ):
        response = w.call(ORG_ADMIN, method, path, **kwargs)
        assert response.status_code == 404, (path, response.text)
    team = await db.fetchrow("SELECT team_alias FROM teams WHERE id = $1", uuid.UUID(w.other_team))
    assert team["team_alias"] == "other-org"
    assert await db.fetchval("SELECT count(*) FROM team_memberships WHERE team_id = $1", uuid.UUID(w.other_team)) == 0
    assert {t["team_id"] for t in w.call(ORG_ADMIN, "GET", "/team/list").json()} == {w.team}

    # A team admin and another team's key; an internal user and someone else's key.
    outsider = w.new_user(organization_id=w.other_org, teams=[w.other_team])
    foreign = w.new_key(outsider, w.other_team)
    colleague = w.new_key(w.users[INTERNAL_USER_VIEWER])
    for role, key in ((TEAM_ADMIN, foreign), (INTERNAL_USER, colleague), (INTERNAL_USER, foreign)):
        assert w.call(role, "GET", "/key/info", params={"key": key["token"]}).status_code == 404
        assert w.call(role, "POST", "/key/update", json={"key": key["token"], "key_alias": "taken"}).status_code == 404
        assert w.call(role, "POST", "/key/delete", json={"keys": [key["token"]]}).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE id = ANY($1::uuid[]) AND key_alias IS NULL",
                             [uuid.UUID(foreign["token"]), uuid.UUID(colleague["token"])]) == 2
    assert w.call(TEAM_ADMIN, "GET", "/user/info", params={"user_id": outsider}).status_code == 404
    assert w.call(INTERNAL_USER, "GET", "/user/info",
                  params={"user_id": w.users[INTERNAL_USER_VIEWER]}).status_code == 404

    # Lists show only what the caller reaches.
    listed = w.call(INTERNAL_USER, "GET", "/key/list", params={"return_full_object": "true"}).json()["keys"]
    assert {key["user_id"] for key in listed} == {w.users[INTERNAL_USER]}
    listed = w.call(TEAM_ADMIN, "GET", "/key/list", params={"return_full_object": "true"}).json()["keys"]
    assert foreign["token"] not in {key["token"] for key in listed}
    assert colleague["token"] in {key["token"] for key in listed}
    members = w.call(TEAM_ADMIN, "GET", "/user/list").json()["users"]
    assert outsider not in {user["user_id"] for user in members}
    assert w.users[INTERNAL_USER] in {user["user_id"] for user in members}


async def test_nobody_acts_on_a_user_above_them(fresh, db):
    w = fresh
    boss = w.users[ACCOUNT_ADMIN]
    w.master("POST", "/team/member_add", json={"team_id": w.team, "member": {"user_id": boss}})  # now in reach
    _refused(w.call(TEAM_ADMIN, "POST", "/key/generate", json={"user_id": boss}), "outranked")
    _refused(w.call(TEAM_ADMIN, "POST", "/user/update", json={"user_id": boss, "metadata": {"x": 1}}), "outranked")
    _refused(w.call(TEAM_ADMIN, "POST", "/team/member_delete", json={"team_id": w.team, "user_id": boss}), "outranked")
    boss_key = w.new_key(boss)
    _refused(w.call(TEAM_ADMIN, "POST", "/key/delete", json={"keys": [boss_key["token"]]}), "outranked")
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE user_id = $1", uuid.UUID(boss)) == 2
    assert await db.fetchval("SELECT count(*) FROM team_memberships WHERE user_id = $1", uuid.UUID(boss)) == 1


def test_a_caller_limited_to_some_models_hands_out_no_others(fresh):
    w = fresh
    w.master("POST", "/team/update", json={"team_id": w.team, "models": ["gpt-4o-mini"]})
    wider = partial(w.call, TEAM_ADMIN, "POST", "/key/generate", json={"models": ["gpt-4o"]})
    _refused(_eventually(wider, 403), "model_not_yours")
    key = w.call(TEAM_ADMIN, "POST", "/key/generate", json={"models": ["gpt-4o-mini"]})
    assert key.status_code == 200 and key.json()["models"] == ["gpt-4o-mini"]


def test_keys_of_no_user_or_team_reach_nothing(fresh):
    w = fresh
    plain = w.master("POST", "/key/generate", json={})["key"]  # an internal user's role, but no user behind it
    for method, path in (("GET", "/key/list"), ("POST", "/key/generate"), ("GET", "/spend/logs")):
        _refused(w.admin.call(method, path, key=plain, json={}), "user_required")
    assert w.admin.call("GET", "/spend/summary", key=plain).status_code == 200  # its own key's spend
    teamless = w.master("POST", "/key/generate", json={"user_id": w.users[TEAM_ADMIN], "team_id": None})["key"]
    _refused(w.admin.call("GET", "/key/list", key=teamless), "team_required")
