"""Console sign-in and sign-out on the audit trail: `login.succeeded`, `login.failed` (with the reason,
never the password) and `logout.succeeded`, each acted by the person signing in or out.

A failed sign-in belongs to the account of the user it tried; one for an email that is no user anywhere
(or for UI_USERNAME, the super admin) belongs to no account, like the super admin's own sign-ins.
Signing in writes nothing else, so each event has a transaction of its own, written before the session
is handed out: a sign-in whose event cannot be written fails.
"""

from __future__ import annotations

from uuid import UUID

from app.audit.actor import Actor
from app.audit.record import record
from app.identity.members import SignedIn
from app.identity.sessions import Session

SUCCEEDED = "login.succeeded"
FAILED = "login.failed"


async def signed_in(signed: SignedIn, method: str, login: str | None = None) -> None:
    """`login` names the super admin signing in with UI_USERNAME (no user, no email)."""
    who = str(signed.user_id) if signed.user_id else (signed.email or login)
    await record(SUCCEEDED, target_type="user", target_id=who, detail={"method": method, "email": signed.email},
                 account_id=signed.account_id, actor=Actor("user", who, signed.role))


async def sign_in_failed(login: str | None, method: str, reason: str, *, account_id: UUID | None = None,
                         user_id: UUID | None = None, outcome: str = "failure") -> None:
    """`login` is the name typed (or the email the identity provider asserted), kept so repeated attempts
    on one name can be found; `reason` is for the trail only (the caller's answer stays the same 401)."""
    await record(FAILED, target_type="user", target_id=user_id or login,
                 detail={"method": method, "reason": reason, "login": login}, outcome=outcome,
                 account_id=account_id, actor=Actor("anonymous", login))


async def signed_out(session: Session) -> None:
    who = str(session.user_id) if session.user_id else session.email
    await record("logout.succeeded", target_type="user", target_id=who,
                 detail={"method": session.method}, account_id=session.account_id,
                 actor=Actor("user", who, session.role))
