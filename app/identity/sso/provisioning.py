"""From an ID token's verified claims to who signs in: the account, the user (created on first sign-in), the role.

Every check runs before anything is written: a refused sign-in leaves no user behind.

    global Zitadel   an email in SUPER_ADMIN_EMAILS (and verified) is the super admin; anyone else needs
                     the account that owns their email domain, and Zitadel's org claim must be that
                     account's `zitadel_org_id`
    account's IdP    the email's domain must be the account's, or the user must already exist in it
                     (invited with another address); a super admin email gets no special power here
Roles: the IdP's roles mapped through the account's `role_mapping` (the highest one wins) replace the
stored role; without a mapped role a new user gets account_admin if listed in the account's admin
emails, else the account's `default_role`, and an existing user keeps theirs.
"""

from __future__ import annotations

import re
from typing import Any

from app.admin import fields
from app.auth.principal import ACCOUNT_ADMIN, SUPER_ADMIN
from app.identity import members
from app.identity.members import SignedIn
from app.identity.sso.config import ZITADEL, AccountSso
from app.identity.sso.flow import refused
from app.lib.errors import InvalidRequest, PermissionDenied
from app.settings import Settings

ZITADEL_ORG = "urn:zitadel:iam:org:id"
ZITADEL_OWNER = "urn:zitadel:iam:user:resourceowner:id"
_ZITADEL_ROLES = re.compile(r"^urn:zitadel:iam:org:project:(?:[^:]+:)?roles$")


def _email(claims: dict[str, Any]) -> str:
    raw = claims.get("email")
    if not isinstance(raw, str):
        raise refused("The identity provider did not share an email address (ask for the 'email' scope)",
                      "sso_email_missing")
    try:
        address = fields.email(raw, "email")
    except InvalidRequest:
        raise refused("The identity provider's email address is not a valid address", "sso_email_invalid") from None
    if claims.get("email_verified") in (False, "false"):
        raise PermissionDenied("The identity provider has not verified this email address", code="sso_email_unverified")
    return address


def zitadel_org(claims: dict[str, Any]) -> str | None:
    org = claims.get(ZITADEL_ORG) or claims.get(ZITADEL_OWNER)
    return org if isinstance(org, str) else None


def zitadel_roles(claims: dict[str, Any], org_id: str | None) -> list[str]:
    """Roles from `urn:zitadel:iam:org:project[:<id>]:roles` = {role: {orgId: domain}}, granted in `org_id`."""
    roles = []
    for name, value in claims.items():
        if _ZITADEL_ROLES.match(name) and isinstance(value, dict):
            roles += [role for role, orgs in value.items()
                      if isinstance(orgs, dict) and (org_id is None or org_id in orgs)]
    return roles


def claimed_roles(claims: dict[str, Any], claim: str) -> list[str]:
    """A generic IdP's roles: a list of names, one name, or an object keyed by role."""
    value = claims.get(claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [role for role in value if isinstance(role, str)]
    if isinstance(value, dict):
        return [role for role in value if isinstance(role, str)]
    return []


async def _member(account: AccountSso, email: str, idp_roles: list[str]) -> SignedIn:
    mapping = account.stored.role_mapping
    mapped = members.highest([mapping[role] for role in idp_roles if role in mapping])
    listed = await members.is_listed_admin(account.account_id, email)
    new_role = ACCOUNT_ADMIN if listed else account.stored.default_role
    user = await members.sign_in_user(account.account_id, email, new_role=new_role, idp_role=mapped)
    return SignedIn(role=user["user_role"], user_id=user["id"], account_id=account.account_id, email=email)


async def via_global_zitadel(claims: dict[str, Any], settings: Settings) -> SignedIn:
    email = _email(claims)
    if email in settings.super_admin_emails:
        if claims.get("email_verified") is not True:
            raise PermissionDenied("A super admin's email must be verified by Zitadel", code="sso_email_unverified")
        return SignedIn(role=SUPER_ADMIN, user_id=None, account_id=None, email=email)
    account = await members.account_for_email(email)
    if account is None:
        raise PermissionDenied("No account owns this email domain", code="sso_no_account")
    if not account.zitadel_org_id or zitadel_org(claims) != account.zitadel_org_id:
        raise PermissionDenied("Your Zitadel organization is not the one linked to the account of your email domain",
                               code="sso_org_mismatch")
    return await _member(account, email, zitadel_roles(claims, account.zitadel_org_id))


async def via_account(claims: dict[str, Any], account: AccountSso) -> SignedIn:
    email = _email(claims)
    owner = await members.account_for_email(email)
    if (owner is None or owner.account_id != account.account_id) and \
            await members.find_user(account.account_id, email) is None:
        raise PermissionDenied("This email address does not belong to the account you are signing in to",
                               code="sso_account_mismatch")
    if account.stored.provider == ZITADEL:
        if account.zitadel_org_id and zitadel_org(claims) != account.zitadel_org_id:
            raise PermissionDenied("Your Zitadel organization is not the one linked to this account",
                                   code="sso_org_mismatch")
        roles = zitadel_roles(claims, account.zitadel_org_id)
    else:
        roles = claimed_roles(claims, account.stored.roles_claim or "roles")
    return await _member(account, email, roles)
