"""Who a sign-in is: the account that owns an email's domain, and the user of that account with that email.

`accounts` is not tenant-owned (it is the tenant); users and account admins are, so they are read and
written while acting inside the account (row-level security binds each query to it). A user created or
given a new role by a sign-in is audited (`user.created`, `user.role_changed`), acted by that user.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from app.audit.actor import Actor
from app.audit.record import record
from app.auth.principal import ROLES
from app.db.piccolo_conf import DB
from app.db.tables import Account, AccountAdmin, User
from app.identity.sso.config import AccountSso, stored_sso
from app.runtime import runtime
from app.tenancy.context import acting_in
from app.tenancy.scoped import scoped


class SignedIn(msgspec.Struct, frozen=True):
    """Who a successful sign-in is: the super admin (no user, no account) or a user of one account."""

    role: str
    user_id: UUID | None
    account_id: UUID | None
    email: str | None


_ACCOUNT_COLUMNS = (Account.id, Account.domain, Account.zitadel_org_id, Account.sso_config)
_USER_COLUMNS = (User.id, User.account_id, User.user_email, User.user_role)


def _account(row: dict[str, Any] | None) -> AccountSso | None:
    if row is None:
        return None
    return AccountSso(account_id=row["id"], domain=row["domain"], zitadel_org_id=row["zitadel_org_id"],
                      stored=stored_sso(row["sso_config"]))


async def live_account(account_id: UUID) -> AccountSso | None:
    row = await Account.select(*_ACCOUNT_COLUMNS).where(
        (Account.id == account_id) & Account.deleted_at.is_null()).output(load_json=True).first()
    return _account(row)


async def account_for_email(email: str) -> AccountSso | None:
    """The live account that owns the email's domain (domains are stored lower-case)."""
    domain = email.rpartition("@")[2]
    row = await Account.select(*_ACCOUNT_COLUMNS).where(
        (Account.domain == domain) & Account.deleted_at.is_null()).output(load_json=True).first()
    return _account(row)


async def find_user(account_id: UUID, email: str, *, with_password: bool = False) -> dict[str, Any] | None:
    """`email` as fields.email() normalises it: addresses are stored lower-case."""
    columns = (*_USER_COLUMNS, User.password_hash) if with_password else _USER_COLUMNS
    with acting_in(account_id):
        return await scoped(User).select(*columns).where(User.user_email == email).first()


async def is_listed_admin(account_id: UUID, email: str) -> bool:
    """Whether the super admin named this email an admin of the account (POST /accounts … admin_emails)."""
    with acting_in(account_id):
        return await scoped(AccountAdmin).exists().where(AccountAdmin.email == email)


async def sign_in_user(account_id: UUID, email: str, *, new_role: str, idp_role: str | None) -> dict[str, Any]:
    """The account's user with this email, created with `new_role` on first sign-in. A role the identity
    provider asserts (mapped onto ours) replaces the stored one; without one, the stored role stays."""
    user = await find_user(account_id, email)
    if user is None:
        try:
            with acting_in(account_id):
                async with DB.transaction():
                    inserted = await scoped(User).insert(user_email=email, user_role=idp_role or new_role)
                    await record("user.created", target_type="user", target_id=inserted["id"], after=inserted,
                                 detail={"via": "sso"}, actor=Actor("user", str(inserted["id"]), inserted["user_role"]))
            return {column._meta.name: inserted[column._meta.name] for column in _USER_COLUMNS}
        except asyncpg.UniqueViolationError:  # the same person signing in twice at once
            user = await find_user(account_id, email)
            assert user is not None
    if idp_role is not None and idp_role != user["user_role"]:
        with acting_in(account_id):
            async with DB.transaction():
                await scoped(User).update({User.user_role: idp_role}).where(User.id == user["id"])
                await record("user.role_changed", target_type="user", target_id=user["id"],
                             before={"user_role": user["user_role"]}, after={"user_role": idp_role},
                             detail={"via": "sso"}, actor=Actor("user", str(user["id"]), idp_role))
        await runtime().bus.publish("account", str(account_id))  # the role is part of the user's keys' principals
        user = {**user, "user_role": idp_role}
    return user


def highest(roles: list[str]) -> str | None:
    """The most powerful of these roles (ROLES lists them highest first)."""
    return min(roles, key=ROLES.index) if roles else None
