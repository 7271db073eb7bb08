"""Single sign-on: starting and finishing a sign-in (per-account OIDC or the global Zitadel), and the
account's own settings behind /sso/config."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import asyncpg
import msgspec

from app.admin import fields
from app.audit.record import audited_change
from app.auth.principal import Principal
from app.db.tables import Account
from app.identity import audit, login, members
from app.identity.members import SignedIn
from app.identity.sessions import IssuedSession
from app.identity.sso import provisioning
from app.identity.sso.config import (AccountSso, IdentityProvider, SsoSettings, SsoSettingsUpdate, StoredSso,
                                     account_provider, global_zitadel, validated, zitadel_org)
from app.identity.sso.discovery import OidcDirectory
from app.identity.sso.flow import PendingSignIn, SignInFlow, refused
from app.lib.errors import Conflict, GatewayError, InvalidRequest, NotFound, PermissionDenied
from app.runtime import runtime
from app.settings import get_settings
from app.tenancy.context import require_account

ACCOUNT_FLOW = "account"
ZITADEL_FLOW = "zitadel"
_IDP_ERROR = re.compile(r"^[a-z_]{1,64}$")
_directory: OidcDirectory | None = None


def _sign_in_flow() -> SignInFlow:
    """Discovery documents and key sets are cached for the life of the process's HTTP client."""
    global _directory
    current = runtime()
    if _directory is None or _directory.http is not current.http:
        _directory = OidcDirectory(current.http)
    return SignInFlow(current.redis, _directory)


def _not_configured() -> InvalidRequest:
    return InvalidRequest("Single sign-on is not set up for this account", code="sso_not_configured")


def _own_provider(account: AccountSso | None) -> IdentityProvider | None:
    if account is None or not account.uses_own_provider:
        return None
    try:
        return account_provider(account, runtime().credentials.open)
    except ValueError:  # a secret sealed under another ALCHEMI_SECRET_KEY
        return None


def _zitadel_callback(base: str) -> str:
    return get_settings().zitadel_callback_url or f"{base}/zitadel/callback"


async def start_zitadel(base: str, email: str | None) -> tuple[str, str]:
    provider = global_zitadel(get_settings())
    if provider is None:
        raise InvalidRequest("Zitadel sign-in is not configured (ZITADEL_ISSUER_URL, ZITADEL_CLIENT_ID)",
                             code="sso_not_configured")
    hint = fields.email(email, "email") if email else None
    return await _sign_in_flow().begin(provider, flow=ZITADEL_FLOW, account_id=None,
                                       redirect_uri=_zitadel_callback(base), login_hint=hint)


async def start_account(base: str, account_id: str | None, email: str | None) -> tuple[str, str]:
    """The issuer's authorization URL for the account (named, or owning the email's domain) and the binding cookie."""
    address = fields.email(email, "email") if email else None
    if account_id:
        account = await members.live_account(fields.identifier(account_id, "account_id"))
    elif address:
        account = await members.account_for_email(address)
    else:
        raise InvalidRequest("Send 'email' or 'account_id'", param="email")
    if account is not None and account.uses_global_zitadel:
        return await start_zitadel(base, address)
    provider = _own_provider(account)
    if provider is None:
        raise _not_configured()
    assert account is not None
    return await _sign_in_flow().begin(provider, flow=ACCOUNT_FLOW, account_id=account.account_id,
                                       redirect_uri=f"{base}/sso/callback", login_hint=address)


async def finish(flow_name: str, params: dict[str, str | None], browser: str | None) -> IssuedSession:
    """The callback: the pending sign-in (single use), the code redeemed, the ID token checked, the user
    found or created, a session issued. Any refusal is a 401/403 and writes nothing but its audit event
    (`login.failed`); a callback that names no pending sign-in is no sign-in attempt and is not recorded."""
    error = params.get("error")
    if error:
        reason = error if _IDP_ERROR.match(error) else "error"
        raise refused(f"The identity provider did not sign you in ({reason})", "sso_denied")
    flow = _sign_in_flow()
    pending = await flow.take(params.get("state"), browser)
    claims: dict = {}
    try:
        signed = await _sign_in(flow, flow_name, pending, params, claims)
    except GatewayError as exc:
        await audit.sign_in_failed(_asserted_email(claims), "sso", exc.code or "refused",
                                   account_id=pending.account_id, outcome="denied" if exc.status == 403 else "failure")
        raise
    await audit.signed_in(signed, "sso")
    return login.issue(signed, "sso")


async def _sign_in(flow: SignInFlow, flow_name: str, pending: PendingSignIn, params: dict[str, str | None],
                   claims: dict) -> SignedIn:
    """Who the pending sign-in is; `claims` is filled in with the ID token's claims once they are verified."""
    account = None
    if pending.flow != flow_name:
        raise refused("This sign-in was started for another callback: start again", "sso_state_invalid")
    if flow_name == ZITADEL_FLOW:
        provider = global_zitadel(get_settings())
    else:
        account = await members.live_account(pending.account_id) if pending.account_id else None
        provider = _own_provider(account)
    if provider is None or (provider.issuer, provider.client_id) != (pending.issuer, pending.client_id):
        raise refused("Single sign-on settings changed during the sign-in: start again", "sso_state_invalid")
    claims.update(await flow.exchange(provider, pending, params.get("code"), params.get("iss")))
    if account is None:
        return await provisioning.via_global_zitadel(claims, get_settings())
    return await provisioning.via_account(claims, account)


def _asserted_email(claims: dict) -> str | None:
    """The email the identity provider asserted, if it is a well-formed one (the trail keeps no junk)."""
    try:
        return fields.email(claims["email"], "email") if isinstance(claims.get("email"), str) else None
    except InvalidRequest:
        return None


# /sso/config: the account's own settings.

def _view(account: AccountSso, base: str) -> SsoSettings:
    stored = account.stored
    callback = _zitadel_callback(base) if account.uses_global_zitadel else f"{base}/sso/callback"
    return SsoSettings(
        account_id=account.account_id, enabled=stored.enabled, provider=stored.provider, issuer=stored.issuer,
        client_id=stored.client_id, client_secret_set=stored.client_secret_sealed is not None, scopes=stored.scopes,
        role_mapping=stored.role_mapping, roles_claim=stored.roles_claim, default_role=stored.default_role,
        zitadel_org_id=account.zitadel_org_id, redirect_uri=callback,
    )


async def _current() -> AccountSso:
    account = await members.live_account(require_account())
    if account is None:
        raise NotFound("No such account", code="account_not_found")
    return account


def _audited(stored: StoredSso, org_id: str | None) -> dict:
    # Every field, defaults too; the sealed client secret is redacted by its name (app/audit/diff.py):
    # the event shows that it changed, never what it is.
    return {**msgspec.structs.asdict(stored), "zitadel_org_id": org_id}


async def _store(action: str, account: AccountSso, stored: StoredSso, org_id: str | None) -> None:
    before, after = _audited(account.stored, account.zitadel_org_id), _audited(stored, org_id)
    try:
        async with audited_change(action, "sso_settings", account.account_id, before=before) as change:
            await Account.update({Account.sso_config: msgspec.to_builtins(stored), Account.zitadel_org_id: org_id,
                                  Account.updated_at: datetime.now(timezone.utc)}).where(
                Account.id == account.account_id)
            change.after = after
    except asyncpg.UniqueViolationError:
        raise Conflict("Another account is linked to that Zitadel organization", param="zitadel_org_id") from None


async def show(base: str) -> SsoSettings:
    return _view(await _current(), base)


async def replace(principal: Principal, data: SsoSettingsUpdate, base: str) -> SsoSettings:
    """An account admin sets the account's own IdP; which Zitadel organization the account is, decides
    which users and provisioning events land in it, so only the super admin links or unlinks one."""
    account = await _current()
    stored = validated(data, account.stored, runtime().credentials.seal)
    org_id = account.zitadel_org_id
    if data.zitadel_org_id is not msgspec.UNSET:
        org_id = zitadel_org(data.zitadel_org_id)
        if org_id != account.zitadel_org_id and not principal.is_super_admin:
            raise PermissionDenied("Only the super admin links an account to a Zitadel organization",
                                   param="zitadel_org_id", code="super_admin_required")
    await _store("sso_settings.updated", account, stored, org_id)
    return _view(await _current(), base)


async def remove(base: str) -> SsoSettings:
    """Single sign-on off and the settings (and secret) gone; the Zitadel link stays (the super admin's)."""
    account = await _current()
    await _store("sso_settings.deleted", account, StoredSso(), account.zitadel_org_id)
    return _view(await _current(), base)
