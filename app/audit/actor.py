"""Who is acting: set once per request from its principal (the `permitted` guard, sign-in), read by
every audit event recorded in that request. Jobs act as `system`."""

from __future__ import annotations

from contextvars import ContextVar

import msgspec

from app.auth.principal import Principal


class Actor(msgspec.Struct, frozen=True):
    type: str  # user | key | master_key | system | anonymous
    id: str | None = None
    role: str | None = None


SYSTEM = Actor("system")
ANONYMOUS = Actor("anonymous")
_actor: ContextVar[Actor] = ContextVar("alchemi_audit_actor", default=ANONYMOUS)


def actor_of(principal: Principal) -> Actor:
    if principal.key_id is not None:
        return Actor("key", str(principal.key_id), principal.role)
    if principal.user_id is not None:
        return Actor("user", str(principal.user_id), principal.role)
    if principal.is_super_admin:
        return Actor("master_key", None, principal.role)
    return Actor("anonymous", None, principal.role)


def set_actor(actor: Actor | Principal) -> None:
    _actor.set(actor if isinstance(actor, Actor) else actor_of(actor))


def current_actor() -> Actor:
    return _actor.get()
