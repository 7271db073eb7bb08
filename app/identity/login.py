"""Email-first console login: which way an email signs in (/v2/login/resolve), password sign-in, and the
session view. Decisions a reader might look for:

- An email of no account gets the same answer as any other such email: password, or the global Zitadel
  when it is configured (so SUPER_ADMIN_EMAILS, which sign in through Zitadel, look like any stranger).
- Password sign-in: UI_USERNAME / UI_PASSWORD is the super admin; anyone else is the user with that email
  in the account owning the email's domain (or in `account_id`, for users invited with another address)
  whose scrypt password hash matches. Every refusal is the same 401; failures are rate-limited per login
  name and client address (app/identity/throttle.py).
- Every sign-in, refusal (throttled ones too) and sign-out is an audit event (app/identity/audit.py); the
  trail, unlike the answer, says why a sign-in failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import NamedTuple
from urllib.parse import quote, urlencode
from uuid import UUID

import msgspec

from app.admin import fields
from app.auth.principal import SUPER_ADMIN
from app.auth.service import presented_key
from app.identity import audit, members
from app.identity.members import SignedIn
from app.identity.passwords import verify_password
from app.identity.sessions import SESSION_COOKIE, IssuedSession, Session, request_cookies, require_csrf
from app.identity.sso.config import global_zitadel
from app.identity.throttle import LoginThrottle
from app.lib.crypto import keys_equal
from app.lib.errors import AuthenticationFailed, InvalidRequest, RateLimited
from app.runtime import runtime
from app.settings import get_settings

log = logging.getLogger("alchemi.identity")

PASSWORD = "password"
SSO = "sso"


class LoginResolve(msgspec.Struct):
    email: str


class LoginRoute(msgspec.Struct, omit_defaults=True):
    account_id: UUID | None
    method: str  # "password" | "sso"
    redirect_url: str | None = None


class PasswordLogin(msgspec.Struct):
    email: str | None = None
    username: str | None = None
    password: str | None = None
    account_id: str | None = None


class SessionView(msgspec.Struct):
    user_id: UUID | None
    account_id: UUID | None
    role: str
    email: str | None
    method: str  # "password" | "sso" | "api_key"
    expires_at: datetime | None


def _zitadel_route(base: str, email: str) -> LoginRoute | None:
    if global_zitadel(get_settings()) is None:
        return None
    return LoginRoute(account_id=None, method=SSO, redirect_url=f"{base}/zitadel/authorize?email={quote(email)}")


async def resolve(email: str, base: str) -> LoginRoute:
    address = fields.email(email, "email")
    unknown = _zitadel_route(base, address) or LoginRoute(account_id=None, method=PASSWORD)
    if address in get_settings().super_admin_emails:
        return unknown
    account = await members.account_for_email(address)
    if account is None:
        return unknown
    if account.uses_own_provider:
        query = urlencode({"account_id": str(account.account_id), "email": address})
        return LoginRoute(account_id=account.account_id, method=SSO, redirect_url=f"{base}/sso/authorize?{query}")
    zitadel = _zitadel_route(base, address) if account.uses_global_zitadel else None
    if zitadel is not None:
        return LoginRoute(account_id=account.account_id, method=SSO, redirect_url=zitadel.redirect_url)
    return LoginRoute(account_id=account.account_id, method=PASSWORD)


def _login_name(data: PasswordLogin) -> tuple[str, str]:
    login = (data.email or data.username or "").strip()
    password = data.password or ""
    if not login or not password:
        raise InvalidRequest("Send 'email' (or 'username') and 'password'", param="email" if not login else "password")
    if len(login) > 320 or any(ord(c) < 32 or ord(c) == 127 for c in login):
        raise InvalidRequest("'email' is not a valid email address", param="email")
    if len(password) > 1024:
        raise InvalidRequest("'password' is too long", param="password")
    return login, password


class _Attempt(NamedTuple):
    """A password checked: who signed in, or why not and whose user it was (for the audit trail)."""

    signed: SignedIn | None
    reason: str | None = None
    account_id: UUID | None = None
    user_id: UUID | None = None


async def _as_user(login: str, password: str, account_id: str | None) -> _Attempt:
    try:
        email = fields.email(login, "email")
        account = await members.live_account(UUID(account_id)) if account_id else await members.account_for_email(email)
    except (InvalidRequest, ValueError):
        account = None
    user = await members.find_user(account.account_id, email, with_password=True) if account else None
    # Runs even without a user: a missing account or user costs the same time as a wrong password.
    if not await verify_password(password, user["password_hash"] if user else None):
        if user is None:
            return _Attempt(None, "unknown_user")
        reason = "wrong_password" if user["password_hash"] else "no_password"
        return _Attempt(None, reason, user["account_id"], user["id"])
    assert account is not None and user is not None
    return _Attempt(SignedIn(role=user["user_role"], user_id=user["id"], account_id=account.account_id, email=email))


async def password_login(data: PasswordLogin, client: str) -> IssuedSession:
    login, password = _login_name(data)
    throttle = LoginThrottle(runtime().redis)
    try:
        await throttle.check(login, client)
    except RateLimited:
        await audit.sign_in_failed(login, PASSWORD, "throttled", outcome="denied")
        raise
    settings = get_settings()
    if settings.ui_username and settings.ui_password and keys_equal(login, settings.ui_username):
        attempt = _Attempt(SignedIn(role=SUPER_ADMIN, user_id=None, account_id=None, email=None))
        if not keys_equal(password, settings.ui_password):
            await verify_password(password, None)  # as slow as a user's wrong password: the name stays unknown
            attempt = _Attempt(None, "wrong_password")
    else:
        attempt = await _as_user(login, password, data.account_id)
    if attempt.signed is None:
        await throttle.failed(login, client)
        await audit.sign_in_failed(login, PASSWORD, attempt.reason or "refused", account_id=attempt.account_id,
                                   user_id=attempt.user_id)
        raise AuthenticationFailed("Wrong email or password", code="invalid_credentials")
    await throttle.succeeded(login, client)
    await audit.signed_in(attempt.signed, PASSWORD, login)
    return issue(attempt.signed, PASSWORD)


def issue(signed: SignedIn, method: str) -> IssuedSession:
    """Signing in makes a session, never a key."""
    log.info("console sign-in", extra={"method": method, "role": signed.role, "account_id": str(signed.account_id),
                                       "user_id": str(signed.user_id)})
    return runtime().auth.sessions.issue(role=signed.role, user_id=signed.user_id, account_id=signed.account_id,
                                         email=signed.email, method=method)


def session_view(session: Session) -> SessionView:
    return SessionView(user_id=session.user_id, account_id=session.account_id, role=session.role, email=session.email,
                       method=session.method, expires_at=datetime.fromtimestamp(session.expires_at, timezone.utc))


async def who_am_i(headers: Mapping[str, str], method: str) -> SessionView:
    """Who the caller is now (a session's user as stored, not as signed in); with a session as the
    credential, also how and until when. An API key, when one is sent, is the credential."""
    principal = await runtime().auth.authenticate(headers, method)
    session = None if presented_key(headers) else runtime().auth.sessions.decode(
        request_cookies(headers).get(SESSION_COOKIE, ""))
    return SessionView(user_id=principal.user_id, account_id=principal.account_id, role=principal.role,
                       email=session.email if session else None, method=session.method if session else "api_key",
                       expires_at=datetime.fromtimestamp(session.expires_at, timezone.utc) if session else None)


async def sign_out(headers: Mapping[str, str]) -> None:
    """Ends the caller's session for good (its id is refused until it would have expired anyway)."""
    sessions = runtime().auth.sessions
    cookies = request_cookies(headers)
    session = sessions.decode(cookies.get(SESSION_COOKIE, ""))
    if session is not None:
        require_csrf(headers, cookies, session)
        await audit.signed_out(session)
        await sessions.revoke(session)
