"""Invitation email: `send_invitation_email(ctx, invitation_id)`.

The link's token is made here, at sending time: only its hash is stored (by this job, just before the
message leaves), so the token itself exists in the email and nowhere else — not in the job, not in
Redis, not in a log. The job is idempotent: an invitation already sent, accepted, expired or deleted
is left alone. A failed delivery is retried a few times (a retry sends a fresh link; an earlier one
that never arrived cannot be used). In `tenant_first` mode the account's own server is tried first.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import msgspec
from arq import Retry

from app.lib.crypto import invitation_token_hasher
from app.mail.delivery import DELIVERY_ERRORS, deliver
from app.mail.invitation import InvitationMail, invitation_message
from app.mail.servers import servers_for
from app.settings import get_settings
from app.tenancy.database import bind_account

log = logging.getLogger("alchemi.tasks.email")

MAX_TRIES = 5
_ACCOUNT_OF = "SELECT public.alchemi_account_of_invitation($1)"
_INVITATION = """
SELECT i.id, i.email, i.role, i.expires_at, i.sent_at, i.accepted_at, i.invited_by_email,
       a.name AS account_name, a.smtp_config
FROM invitations i JOIN accounts a ON a.id = i.account_id AND a.deleted_at IS NULL
WHERE i.id = $1 AND i.account_id = $2
"""
# The hash of the link about to be sent replaces any earlier one (of a try whose mail never left).
_SET_TOKEN = """
UPDATE invitations SET token_hash = $3
WHERE id = $1 AND account_id = $2 AND sent_at IS NULL AND accepted_at IS NULL AND expires_at > now()
RETURNING id
"""
_MARK_SENT = "UPDATE invitations SET sent_at = now(), sent_via = $3 WHERE id = $1 AND account_id = $2"


def _link(token: str) -> str:
    settings = get_settings()
    base = (settings.proxy_base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{base}/invitation/accept?token={token}"


async def _invitation(pool, ident: UUID) -> tuple[UUID | None, Any]:
    """The invitation (with its account's name and SMTP settings) and its account; (None, None) once gone.
    The job carries the id only: the account comes from a SECURITY DEFINER lookup, then RLS applies."""
    async with pool.acquire() as conn:
        account_id = await conn.fetchval(_ACCOUNT_OF, ident)
        if account_id is None:
            return None, None
        async with conn.transaction():
            await bind_account(conn, account_id)
            return account_id, await conn.fetchrow(_INVITATION, ident, account_id)


async def send_invitation_email(ctx: dict[str, Any], invitation_id: str) -> str:
    settings = get_settings()
    ident = UUID(invitation_id)
    account_id, row = await _invitation(ctx["db"], ident)
    if row is None:
        return "gone"
    if row["sent_at"] is not None or row["accepted_at"] is not None:
        return "already sent"
    if row["expires_at"] <= datetime.now(timezone.utc):
        return "expired"
    smtp_config = msgspec.json.decode(row["smtp_config"]) if isinstance(row["smtp_config"], str) else row["smtp_config"]
    servers = servers_for(settings, smtp_config, ctx.get("credentials"))
    if not servers:
        log.error("invitation email not sent: no SMTP server is configured", extra={"invitation_id": invitation_id})
        return "no smtp server"

    token = secrets.token_urlsafe(32)
    async with ctx["db"].acquire() as conn, conn.transaction():
        await bind_account(conn, account_id)
        token_hash = invitation_token_hasher(settings.secret_key).hash(token)
        claimed = await conn.fetchval(_SET_TOKEN, ident, account_id, token_hash)
    if claimed is None:
        return "already sent"

    for label, server in servers:
        mail = InvitationMail(sender_email=server.sender_email, recipient=row["email"],
                              account_name=row["account_name"], role=row["role"], link=_link(token),
                              expires_at=row["expires_at"], inviter=row["invited_by_email"],
                              logo_url=settings.email_logo_url, support_contact=settings.email_support_contact)
        try:
            await deliver(server, invitation_message(mail), row["email"])
        except DELIVERY_ERRORS as exc:
            # The exception's type and SMTP code only: its text may echo what the server was sent.
            log.warning("SMTP delivery failed", extra={
                "invitation_id": invitation_id, "server": label, "error": type(exc).__name__,
                "smtp_code": getattr(exc, "code", None)})
            continue
        async with ctx["db"].acquire() as conn, conn.transaction():
            await bind_account(conn, account_id)
            await conn.execute(_MARK_SENT, ident, account_id, label)
        return f"sent via {label}"
    if ctx.get("job_try", 1) < MAX_TRIES:
        raise Retry(defer=5 * ctx.get("job_try", 1))
    log.error("invitation email not sent: every SMTP server refused it", extra={"invitation_id": invitation_id})
    return "failed"
