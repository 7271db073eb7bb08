"""What a caller may hand out, and what it may not change about itself: the escalation rules, one
function each. Services call them before they write; a refusal is 403 permission_error.

    grant_role       nobody grants a role above their own (so an org admin makes no account admins)
    act_on           nobody changes, removes, or makes keys for, a user whose role is above their own
    grant_budget     nobody sets a max_budget above the lowest budget that binds their own level
                     (an org admin: its organization's and the account's), where there is one
    grant_models     a caller whose key is limited to some models hands out no others
    keep_own_bounds  nobody changes their own role, limits, organization or team, those of the level they
                     administer (a team admin its team's, an org admin its organization's), or the key
                     they are calling with; their account is the super admin's (/accounts) anyway
All of them read only the caller's Principal, so they hold for keys and console sessions alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from uuid import UUID

import msgspec

from app.admin.fields import LIMIT_FIELDS
from app.auth import rbac
from app.auth.principal import SUPER_ADMIN, Principal
from app.lib.errors import PermissionDenied

# Inner to outer, as admission charges them: a level's budget binds every level inside it.
LEVELS = ("key", "user", "team", "organization", "account")

_BOUNDS = {
    "user": frozenset({"user_role", "organization_id", *LIMIT_FIELDS}),
    "key": frozenset({"models", "user_id", "team_id", "duration", *LIMIT_FIELDS}),
    "team": frozenset({"models", "organization_id", "blocked", *LIMIT_FIELDS}),
    "organization": frozenset({"models", *LIMIT_FIELDS}),
}


def named(data: msgspec.Struct) -> set[str]:
    """The fields an update request sets (UNSET ones are left alone)."""
    return {name for name in data.__struct_fields__ if getattr(data, name) is not msgspec.UNSET}


def grant_role(principal: Principal, role: str) -> None:
    if rbac.outranks(role, principal.role):
        raise PermissionDenied(f"You cannot grant the role '{role}': it is above your own ('{principal.role}')",
                               param="user_role", code="role_above_yours")


def act_on(principal: Principal, target_role: str | None, what: str) -> None:
    if target_role is not None and rbac.outranks(target_role, principal.role):
        raise PermissionDenied(f"This {what} belongs to a user whose role ('{target_role}') is above yours "
                               f"('{principal.role}')", code="outranked")


def budget_ceiling(principal: Principal) -> tuple[Decimal, str] | None:
    """The lowest max_budget among the caller's own level and the levels above it: (amount, level)."""
    if principal.role == SUPER_ADMIN:
        return None
    own = LEVELS.index(rbac.LEVEL.get(principal.role, "user"))
    binding = [(spec.max_budget, spec.level) for spec in principal.limits
               if spec.max_budget is not None and LEVELS.index(spec.level) >= own]
    return min(binding, key=lambda pair: pair[0]) if binding else None


def grant_budget(principal: Principal, max_budget: Decimal | None) -> None:
    """An explicit budget only: no budget leaves the levels above (the caller's among them) to bind."""
    ceiling = budget_ceiling(principal)
    if max_budget is not None and ceiling is not None and max_budget > ceiling[0]:
        raise PermissionDenied(f"'max_budget' {max_budget} is above the budget of your {ceiling[1]} ({ceiling[0]})",
                               param="max_budget", code="budget_above_yours")


def grant_models(principal: Principal, requested: list[str], team_models: list[str]) -> list[str]:
    """The models to store on a key. An empty list means its team's models, or all of the account's;
    for a caller limited to some models, that becomes exactly the caller's."""
    own = principal.models
    if not own or rbac.LEVEL.get(principal.role) == "account":
        return requested
    effective = requested or team_models
    if not effective:
        return list(own)
    outside = [model for model in effective if model not in own]
    if outside:
        raise PermissionDenied(f"You may not hand out models you cannot use yourself: {', '.join(outside)}",
                               param="models", code="model_not_yours")
    return requested


def _is_own(principal: Principal, kind: str, ident: UUID) -> bool:
    if kind == "user":
        return ident == principal.user_id
    if kind == "key":
        return ident == principal.key_id
    return kind == rbac.LEVEL.get(principal.role) and ident == getattr(principal, f"{kind}_id")


def keep_own_bounds(principal: Principal, kind: str, ident: UUID, changes: Iterable[str]) -> None:
    if not _is_own(principal, kind, ident):
        return
    touched = sorted(set(changes) & _BOUNDS[kind])
    if touched:
        whose = "the key you are calling with" if kind == "key" else f"your own {kind}"
        raise PermissionDenied(f"You cannot change {', '.join(touched)} of {whose}", param=touched[0],
                               code="own_bounds")

