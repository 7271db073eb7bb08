"""Who may call which route: the one table of role × route, and the order of the roles.

`PERMISSIONS` names, for every management route ("METHOD /path" as the app routes it), the roles that
may call it; the super admin may call every one of them, in any account. A role allowed on a route
then reaches only its own part of the account (app/admin/reach.py: an org_admin its organization, a
team_admin its team, the internal roles their own user), and the services apply the escalation rules
(app/admin/grants.py). `app.admin.access.permitted` enforces this table; `UNGUARDED` lists the routes
that are not management routes, with the reason. tests/auth/test_rbac.py walks every route of the app
with every role and fails on a route that is in neither.
"""

from __future__ import annotations

from typing import NamedTuple

from app.auth.principal import (ACCOUNT_ADMIN, INTERNAL_USER, INTERNAL_USER_VIEWER, ORG_ADMIN, SUPER_ADMIN,
                                TEAM_ADMIN)

# Highest first: a role may grant, and act on users with, its own role or those below it.
ORDER = (SUPER_ADMIN, ACCOUNT_ADMIN, ORG_ADMIN, TEAM_ADMIN, INTERNAL_USER, INTERNAL_USER_VIEWER)
_RANK = {role: len(ORDER) - position for position, role in enumerate(ORDER)}

# The level of the account a role administers, and so the budget that binds it. The principal's
# `<level>_id` (organization_id, team_id, user_id) anchors the role's reach.
LEVEL = {SUPER_ADMIN: "account", ACCOUNT_ADMIN: "account", ORG_ADMIN: "organization", TEAM_ADMIN: "team",
         INTERNAL_USER: "user", INTERNAL_USER_VIEWER: "user"}


def rank(role: str) -> int:
    """Higher is more; a role this table does not know ranks below all of them."""
    return _RANK.get(role, 0)


def outranks(role: str, other: str) -> bool:
    return rank(role) > rank(other)


class Rule(NamedTuple):
    roles: frozenset[str]  # besides the super admin, who may call every route
    in_account: bool = True  # False: the super admin's routes across accounts (/accounts)
    anchored: bool = True  # False: any key of the account may call it (its own key is then its scope)

    def allows(self, role: str) -> bool:
        return role == SUPER_ADMIN or role in self.roles


_SUPER = frozenset[str]()
_ACCOUNT = frozenset({ACCOUNT_ADMIN})
_ORGANIZATION = _ACCOUNT | {ORG_ADMIN}
_TEAM = _ORGANIZATION | {TEAM_ADMIN}
_OWN = _TEAM | {INTERNAL_USER}  # internal users: their own keys
_READ = _OWN | {INTERNAL_USER_VIEWER}  # viewers: read their own things, change nothing

PERMISSIONS: dict[str, Rule] = {
    # Tenants: the super admin's alone.
    "POST /accounts": Rule(_SUPER, in_account=False),
    "GET /accounts": Rule(_SUPER, in_account=False),
    "GET /accounts/{account_id}": Rule(_SUPER, in_account=False),
    "PATCH /accounts/{account_id}": Rule(_SUPER, in_account=False),
    "DELETE /accounts/{account_id}": Rule(_SUPER, in_account=False),
    "POST /accounts/{account_id}/admins": Rule(_SUPER, in_account=False),
    "DELETE /accounts/{account_id}/admins/{email}": Rule(_SUPER, in_account=False),
    # The account's configuration: deployments, routing, their health. Team and org admins may read
    # the deployments (to pick models for keys); nobody below reads credentials, which are never shown.
    "POST /model/new": Rule(_ACCOUNT),
    "GET /model/info": Rule(_TEAM),
    "POST /model/delete": Rule(_ACCOUNT),
    "GET /router/settings": Rule(_ACCOUNT),
    "POST /router/settings": Rule(_ACCOUNT),
    "GET /health": Rule(_ACCOUNT),
    # Keys: each role its reach's keys; internal users their own; viewers read their own.
    "POST /key/generate": Rule(_OWN),
    "POST /key/update": Rule(_OWN),
    "POST /key/delete": Rule(_OWN),
    "GET /key/info": Rule(_READ),
    "GET /key/list": Rule(_READ),
    # Users: an org admin its organization's, a team admin its team's members; the internal roles
    # read themselves. Deleting a user (all their teams and keys) is above a team admin.
    "POST /user/new": Rule(_TEAM),
    "GET /user/info": Rule(_READ),
    "GET /user/list": Rule(_TEAM),
    "POST /user/update": Rule(_TEAM),
    "POST /user/delete": Rule(_ORGANIZATION),
    # Teams: an org admin makes and removes its organization's; a team admin runs its own team.
    "POST /team/new": Rule(_ORGANIZATION),
    "GET /team/info": Rule(_TEAM),
    "GET /team/list": Rule(_TEAM),
    "POST /team/update": Rule(_TEAM),
    "POST /team/member_add": Rule(_TEAM),
    "POST /team/member_delete": Rule(_TEAM),
    "POST /team/delete": Rule(_ORGANIZATION),
    # Organizations: the account admin makes and removes them; an org admin runs its own.
    "POST /organization/new": Rule(_ACCOUNT),
    "GET /organization/info": Rule(_ORGANIZATION),
    "GET /organization/list": Rule(_ORGANIZATION),
    "POST /organization/update": Rule(_ORGANIZATION),
    "PATCH /organization/update": Rule(_ORGANIZATION),
    "DELETE /organization/delete": Rule(_ACCOUNT),
    # Spend: each role its reach's rows.
    "GET /spend/logs": Rule(_READ),
    "GET /global/spend/report": Rule(_READ),
    "GET /spend/summary": Rule(_READ, anchored=False),
    # Invitations and the account's own SMTP server: the account admin's.
    "POST /invitation/new": Rule(_ACCOUNT),
    "GET /invitation/list": Rule(_ACCOUNT),
    "GET /invitation/info": Rule(_ACCOUNT),
    "POST /invitation/delete": Rule(_ACCOUNT),
    "GET /email/smtp": Rule(_ACCOUNT),
    "PUT /email/smtp": Rule(_ACCOUNT),
    "DELETE /email/smtp": Rule(_ACCOUNT),
    # The account's own identity provider (linking a Zitadel organization is checked to be the super admin's).
    "GET /sso/config": Rule(_ACCOUNT),
    "PUT /sso/config": Rule(_ACCOUNT),
    "DELETE /sso/config": Rule(_ACCOUNT),
    # The audit trail: the account admin reads the account's; the super admin any account's, or all of them
    # (and the events no account owns) without x-alchemi-account-id.
    "GET /audit/logs": Rule(_ACCOUNT, in_account=False),
    # Guardrails: the account admin configures them and reads their hit log (which keys and users tripped
    # what) and custom patterns (they describe what the account treats as secret). Org and team admins may
    # read which guards run: their people's requests go through them.
    "GET /copilot/guardrails/config": Rule(_TEAM),
    "PUT /copilot/guardrails/config": Rule(_ACCOUNT),
    "POST /copilot/guardrails/config/{guard_type}/toggle": Rule(_ACCOUNT),
    "PUT /copilot/guardrails/config/{guard_type}": Rule(_ACCOUNT),
    "GET /copilot/guardrails/patterns": Rule(_ACCOUNT),
    "POST /copilot/guardrails/patterns": Rule(_ACCOUNT),
    "PATCH /copilot/guardrails/patterns/{pattern_id}": Rule(_ACCOUNT),
    "DELETE /copilot/guardrails/patterns/{pattern_id}": Rule(_ACCOUNT),
    "GET /copilot/guardrails/audit": Rule(_ACCOUNT),
}


def _data_plane(*paths: str) -> dict[str, str]:
    reason = "data plane: any live key; the gateway checks its models and limits"
    return {path: reason for name in paths for path in (f"/v1/{name}", f"/{name}")}


# Routes outside the role table, by path (every method).
UNGUARDED: dict[str, str] = {
    "/health/liveliness": "public: probes",
    "/health/readiness": "public: probes",
    "/metrics": "public: Prometheus scrape",
    **_data_plane("chat/completions", "completions", "embeddings", "models", "images/generations", "moderations",
                  "rerank", "audio/speech", "audio/transcriptions", "messages", "messages/count_tokens", "responses"),
    "/v2/rerank": "data plane: any live key; the gateway checks its models and limits",
    "/invitation/accept": "the emailed link: its single-use token is the credential",
    "/zitadel/webhook": "Zitadel's events: authenticated by their ZITADEL-Signature",
    "/v2/login/resolve": "console sign-in: before anyone is known",
    "/v2/login": "console sign-in: the password is the credential",
    "/v2/logout": "console sign-out: ends the caller's own session (CSRF-checked)",
    "/v2/session": "who am I: any key or console session",
    "/sso/authorize": "console sign-in: sends the browser to the account's identity provider",
    "/sso/callback": "console sign-in: the identity provider's signed answer is the credential",
    "/zitadel/authorize": "console sign-in: sends the browser to Zitadel",
    "/zitadel/callback": "console sign-in: Zitadel's signed answer is the credential",
}


def rule_for(method: str, path: str) -> Rule | None:
    return PERMISSIONS.get(f"{method} {path}")
