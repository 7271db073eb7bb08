"""Who may call management routes: dependencies that authenticate and check the caller's role.

Issue-level RBAC (a role × route table) builds on these; today management needs an admin:
the super admin (master key) or an account admin's key. Read-only routes that any key of the
account may call (ACCOUNT_MEMBER, e.g. /spend/summary) narrow what they show to the caller themselves.
"""

from __future__ import annotations

from litestar import Request
from litestar.di import Provide

from app.auth.principal import ADMIN_ROLES, Principal
from app.lib.errors import PermissionDenied
from app.runtime import runtime
from app.tenancy.context import require_account


async def _admin(request: Request) -> Principal:
    principal = await runtime().auth.authenticate(request.headers)
    if principal.role not in ADMIN_ROLES:
        raise PermissionDenied("This route needs an administrator's key", code="admin_required")
    return principal


async def _account_admin(request: Request) -> Principal:
    """An admin acting inside one account (a super admin must name it with x-alchemi-account-id)."""
    principal = await _admin(request)
    require_account()
    return principal


async def _account_member(request: Request) -> Principal:
    """Any valid key acting inside one account; the route decides what of the account it may see."""
    principal = await runtime().auth.authenticate(request.headers)
    require_account()
    return principal


async def _super_admin(request: Request) -> Principal:
    principal = await runtime().auth.authenticate(request.headers)
    if not principal.is_super_admin:
        raise PermissionDenied("Only the super admin manages accounts", code="super_admin_required")
    return principal


ACCOUNT_ADMIN = {"principal": Provide(_account_admin)}
ACCOUNT_MEMBER = {"principal": Provide(_account_member)}
SUPER_ADMIN = {"principal": Provide(_super_admin)}
