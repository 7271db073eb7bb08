"""What part of its account a caller reaches, as filters the services add to their scoped queries.

    super admin, account_admin    the whole account
    org_admin                     its organization: its teams, its users and its teams' members, their keys, spend
    team_admin                    its team: the team, its members, the team's keys and spend
    internal_user(_viewer)        its own user, keys and spend
Everyone also reaches their own user and their own keys. An object outside the reach is not found
(404), exactly like another account's: an id, guessed or leaked, says nothing about an object the caller
may not see, and every service already answers "not found" that way. Routes a role may not call at
all are refused before this (403, app/admin/access.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from piccolo.columns.combination import WhereRaw
from piccolo.table import Table

from app.auth import rbac
from app.auth.principal import Principal

_EVERYTHING = "TRUE"
_NOTHING = "FALSE"


def _where(sql: str, *values: Any) -> WhereRaw:
    # Parenthesised: piccolo joins conditions with AND, which would otherwise bind before an OR here.
    return WhereRaw(f"({sql})", *values)


class Reach:
    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.level = rbac.LEVEL.get(principal.role, "user")
        self.anchor: UUID | None = None if self.level == "account" else getattr(principal, f"{self.level}_id")
        self.me = principal.user_id  # NULL in SQL matches nothing

    @property
    def whole_account(self) -> bool:
        return self.level == "account"

    def keys(self) -> WhereRaw:
        if self.level == "account":
            return _where(_EVERYTHING)
        if self.level == "organization":
            # A key's organization as its principal resolves it: its own, else its team's, else its user's.
            return _where(
                "COALESCE(virtual_keys.organization_id,"
                " (SELECT t.organization_id FROM teams t WHERE t.id = virtual_keys.team_id),"
                " (SELECT u.organization_id FROM users u WHERE u.id = virtual_keys.user_id)) = {}"
                " OR virtual_keys.user_id = {}", self.anchor, self.me)
        if self.level == "team":
            return _where("virtual_keys.team_id = {} OR virtual_keys.user_id = {}", self.anchor, self.me)
        return _where("virtual_keys.user_id = {}", self.me)

    def users(self) -> WhereRaw:
        if self.level == "account":
            return _where(_EVERYTHING)
        if self.level == "organization":
            return _where(
                "users.organization_id = {} OR users.id IN (SELECT m.user_id FROM team_memberships m"
                " JOIN teams t ON t.id = m.team_id WHERE t.organization_id = {}) OR users.id = {}",
                self.anchor, self.anchor, self.me)
        if self.level == "team":
            return _where("users.id IN (SELECT m.user_id FROM team_memberships m WHERE m.team_id = {})"
                          " OR users.id = {}", self.anchor, self.me)
        return _where("users.id = {}", self.me)

    def teams(self) -> WhereRaw:
        """For the internal roles: the teams they are members of (a key of theirs may belong to one)."""
        if self.level == "account":
            return _where(_EVERYTHING)
        if self.level == "organization":
            return _where("teams.organization_id = {}", self.anchor)
        if self.level == "team":
            return _where("teams.id = {}", self.anchor)
        return _where("teams.id IN (SELECT m.team_id FROM team_memberships m WHERE m.user_id = {})", self.me)

    def organizations(self) -> WhereRaw:
        if self.level == "account":
            return _where(_EVERYTHING)
        if self.level == "organization":
            return _where("organizations.id = {}", self.anchor)
        return _where(_NOTHING)

    def spend(self, table: type[Table]) -> WhereRaw:
        """Rows of the usage ledger or its roll-ups (both carry organization, team and user ids)."""
        name = table._meta.tablename
        if self.level == "account":
            return _where(_EVERYTHING)
        if self.level == "user":
            return _where(f"{name}.user_id = {{}}", self.me)
        return _where(f"{name}.{self.level}_id = {{}} OR {name}.user_id = {{}}", self.anchor, self.me)
