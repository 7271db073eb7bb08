"""Who may call management routes: the guard that enforces the role table (app/auth/rbac.py).

Controllers declare `guards = [permitted]` and `dependencies = PRINCIPAL` once. The guard runs before
the request's parameters and body are read: it authenticates the caller (401), looks the route up in
the role table and refuses a role that may not call it (403 permission_error), refuses a role whose
reach has no anchor (an org admin's key outside any organization, a team admin's outside any team, a
key of no user), and makes an account-scoped route name its account. What the caller then reaches
inside the account is app/admin/reach.py; what it may hand out is app/admin/grants.py. Each refusal
by role or anchor is an `access.denied` audit event (outcome "denied") of the caller's account.
"""

from __future__ import annotations

import logging

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers import BaseRouteHandler

from app.audit.actor import set_actor
from app.audit.record import record
from app.auth import rbac
from app.auth.principal import Principal
from app.lib.errors import PermissionDenied
from app.runtime import runtime
from app.tenancy.context import require_account

log = logging.getLogger("alchemi.access")


async def _authenticate(connection: ASGIConnection) -> Principal:
    # The method decides whether a console session's request needs its CSRF header.
    return await runtime().auth.authenticate(connection.headers, connection.scope["method"])


def _check_anchor(principal: Principal) -> None:
    """An org admin, team admin or internal user reaches what hangs on its organization, team or user."""
    level = rbac.LEVEL.get(principal.role, "user")
    if level != "account" and getattr(principal, f"{level}_id") is None:
        raise PermissionDenied(f"The role '{principal.role}' reaches only what belongs to its {level}, and this "
                               f"caller has no {level}", code=f"{level}_required")


async def permitted(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    method, path = connection.scope["method"], connection.scope["path_template"]
    if method == "OPTIONS":  # Litestar's own answer listing the methods: nothing to protect
        return
    principal = await _authenticate(connection)
    set_actor(principal)
    rule = rbac.rule_for(method, path)
    try:
        if rule is None:  # a guarded route the table does not list: refuse rather than guess
            raise PermissionDenied(f"{method} {path} is not in the role table", code="route_not_permitted")
        if not rule.allows(principal.role):
            raise PermissionDenied(f"The role '{principal.role}' may not call {method} {path}",
                                   code="role_not_permitted")
        if rule.anchored:
            _check_anchor(principal)
    except PermissionDenied as refusal:
        await _record_denial(method, path, refusal)
        raise
    if rule.in_account:
        require_account()
    connection.state.principal = principal


async def _record_denial(method: str, path: str, refusal: PermissionDenied) -> None:
    try:
        await record("access.denied", target_type="route", target_id=f"{method} {path}", outcome="denied",
                     detail={"code": refusal.code})
    except Exception:  # noqa: BLE001 - the caller is refused either way; a lost event must not turn 403 into 500
        log.warning("could not record a refused call", extra={"route": f"{method} {path}", "code": refusal.code})


async def _principal(request: Request) -> Principal:
    if "principal" not in request.state:  # a handler without the guard still gets the same check
        await permitted(request, request.route_handler)
    return request.state.principal


PRINCIPAL = {"principal": Provide(_principal)}
