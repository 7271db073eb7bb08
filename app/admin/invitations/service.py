"""Invitations: an admin invites an email into the account; a worker mails a single-use link
(tasks/email.py); opening the link shows the invitation and changes nothing; accepting it creates
the user in that account only, once.

Rules where the issue was silent:
- one open invitation per email and account (409 `invitation_exists`; an expired one is replaced);
- an email that is already a user of the account cannot be invited (409 `user_exists`);
- an email whose domain another account owns (accounts.domain) cannot be invited (403
  `domain_of_another_account`): that person logs in to the other account; domains no account owns
  (gmail.com, a contractor's) can be invited;
- nobody invites with a role above their own (app/admin/grants.py).

Audit: `invitation.created`, `invitation.revoked` (deleted by an admin, or withdrawn because its email
could not be queued), and on acceptance `invitation.accepted` plus `user.created`, both acted by the new
user and written in the transaction that consumes the invitation.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from uuid import UUID

import asyncpg

from app.admin import fields, grants
from app.admin.invitations.schemas import (AcceptedUser, Invitation, InvitationAccept, InvitationCreate, InvitationList,
                                           InvitationPreview)
from app.audit.actor import Actor
from app.audit.record import audited_change, record
from app.auth.principal import INTERNAL_USER, ROLES, SUPER_ADMIN, Principal
from app.db.piccolo_conf import DB
from app.db.tables import Account, User
from app.db.tables import Invitation as InvitationRow
from app.identity.passwords import MIN_LENGTH, hash_password
from app.lib.crypto import KeyHasher, invitation_token_hasher
from app.lib.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, ServiceUnavailable
from app.lib.jobs import enqueue
from app.runtime import runtime
from app.tenancy.context import acting_in, require_account
from app.tenancy.scoped import scoped

GRANTABLE_ROLES = tuple(role for role in ROLES if role != SUPER_ADMIN)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_PASSWORD_MAX = 1024

invitations = scoped(InvitationRow)


@functools.cache
def _hasher(secret: str) -> KeyHasher:
    return invitation_token_hasher(secret)


def _status(row: dict, now: datetime) -> str:
    if row["accepted_at"] is not None:
        return "accepted"
    if row["expires_at"] <= now:
        return "expired"
    return "sent" if row["sent_at"] is not None else "pending"


def _view(row: dict) -> Invitation:
    return Invitation(
        id=row["id"], account_id=row["account_id"], user_email=row["email"], user_role=row["role"],
        status=_status(row, datetime.now(timezone.utc)), is_accepted=row["accepted_at"] is not None,
        created_at=row["created_at"], created_by=row["invited_by"], created_by_email=row["invited_by_email"],
        expires_at=row["expires_at"], sent_at=row["sent_at"], accepted_at=row["accepted_at"],
        user_id=row["accepted_user_id"],
    )


def _role(value: str | None, principal: Principal) -> str:
    role = value or INTERNAL_USER
    if role == SUPER_ADMIN:
        raise PermissionDenied("The super admin role cannot be granted through the API", param="user_role",
                               code="role_not_grantable")
    if role not in GRANTABLE_ROLES:
        raise InvalidRequest(f"'user_role' must be one of: {', '.join(GRANTABLE_ROLES)}", param="user_role")
    grants.grant_role(principal, role)
    return role


async def _refuse_foreign_domain(address: str, account_id: UUID) -> None:
    domain = address.rpartition("@")[2]
    owner = await Account.select(Account.id).where((Account.domain == domain) & Account.deleted_at.is_null()).first()
    if owner is not None and owner["id"] != account_id:
        raise PermissionDenied(f"The domain '{domain}' belongs to another account: its people sign in there",
                               param="user_email", code="domain_of_another_account")


async def _row(reference: str) -> dict:
    row = await invitations.get(InvitationRow.id == fields.identifier(reference, "invitation_id"))
    if row is None:
        raise NotFound(f"No invitation with id '{reference}'", param="invitation_id", code="invitation_not_found")
    return row


async def invite(principal: Principal, data: InvitationCreate) -> Invitation:
    address = fields.email(data.user_email)
    role = _role(data.user_role, principal)
    account_id = require_account()
    await _refuse_foreign_domain(address, account_id)
    if await scoped(User).exists().where(User.user_email == address):
        raise Conflict(f"'{address}' is already a user of this account", param="user_email", code="user_exists")
    inviter = await scoped(User).get(User.id == principal.user_id) if principal.user_id else None
    now = datetime.now(timezone.utc)
    try:
        async with audited_change("invitation.created", "invitation") as change:
            await invitations.delete().where((InvitationRow.email == address) & InvitationRow.accepted_at.is_null()
                                             & (InvitationRow.expires_at <= now))
            row = await invitations.insert(
                email=address, role=role, expires_at=now + timedelta(hours=runtime().settings.invitation_ttl_hours),
                invited_by=principal.user_id, invited_by_email=inviter["user_email"] if inviter else None)
            change.target_id, change.after = row["id"], row
    except asyncpg.UniqueViolationError:
        raise Conflict(f"'{address}' already has an open invitation to this account", param="user_email",
                       code="invitation_exists") from None
    try:
        await enqueue(runtime().redis, "send_invitation_email", str(row["id"]),
                      job_id=f"send_invitation_email:{row['id']}")
    except Exception:  # noqa: BLE001 - any Redis failure: nothing was promised, so nothing is kept
        async with audited_change("invitation.revoked", "invitation", row["id"], before=row) as change:
            await invitations.delete().where(InvitationRow.id == row["id"])
            change.detail = {"reason": "queue_unavailable"}
        raise ServiceUnavailable("The invitation could not be queued for sending; try again",
                                 code="queue_unavailable") from None
    return _view(row)


async def list_invitations(page: int, page_size: int) -> InvitationList:
    total = await invitations.count()
    rows = await invitations.select().order_by(InvitationRow.created_at, ascending=False).limit(page_size).offset(
        (page - 1) * page_size)
    return InvitationList(invitations=[_view(row) for row in rows], total=total, page=page, page_size=page_size,
                          total_pages=fields.total_pages(total, page_size))


async def invitation_info(reference: str) -> Invitation:
    return _view(await _row(reference))


async def delete_invitation(reference: str) -> Invitation:
    """Deleting an open invitation makes its link useless at once."""
    row = await _row(reference)
    async with audited_change("invitation.revoked", "invitation", row["id"], before=row):
        await invitations.delete().where(InvitationRow.id == row["id"])
    return _view(row)


# ---- the link: no key, no session; the token alone names the invitation -------------------------------

def _invalid_link() -> NotFound:
    # One answer for unknown, used, expired and deleted: the link says nothing more about itself.
    return NotFound("This invitation link is not valid: it may have been used, withdrawn or have expired",
                    code="invitation_not_found")


async def _open_invitation(token: str) -> tuple[dict, str]:
    """The invitation a token opens (unused, unexpired, of a live account) and the token's hash."""
    if not 16 <= len(token) <= 128 or not set(token) <= _TOKEN_CHARS:
        raise _invalid_link()
    token_hash = _hasher(runtime().settings.secret_key).hash(token)
    # Before the account is known, row-level security shows no invitation: a definer function answers its account.
    found = await InvitationRow.raw("SELECT public.alchemi_account_of_invitation_token({}) AS account_id", token_hash)
    account_id = found[0]["account_id"] if found else None
    if account_id is None:
        raise _invalid_link()
    with acting_in(account_id):
        row = await invitations.get((InvitationRow.token_hash == token_hash) & InvitationRow.accepted_at.is_null()
                                    & (InvitationRow.expires_at > datetime.now(timezone.utc)))
    account = await Account.select(Account.name).where(
        (Account.id == account_id) & Account.deleted_at.is_null()).first()
    if row is None or account is None:
        raise _invalid_link()
    row["account_name"] = account["name"]
    return row, token_hash


async def preview(token: str) -> InvitationPreview:
    """Reads only: opening a link (a mail scanner does, too) must not use it up."""
    row, _ = await _open_invitation(token)
    return InvitationPreview(account_name=row["account_name"], user_email=row["email"], user_role=row["role"],
                             invited_by=row["invited_by_email"], expires_at=row["expires_at"])


_CONSUME = """
UPDATE invitations SET accepted_at = now()
WHERE token_hash = {} AND account_id = {} AND accepted_at IS NULL AND expires_at > now()
RETURNING id, email, role
"""


async def accept(data: InvitationAccept) -> AcceptedUser:
    """Creates the invited user in the invitation's account, once: the invitation is consumed by one
    conditional UPDATE in the same transaction, so of two racing acceptances exactly one wins."""
    if data.password is not None and not MIN_LENGTH <= len(data.password) <= _PASSWORD_MAX:
        raise InvalidRequest(f"'password' must be {MIN_LENGTH} to {_PASSWORD_MAX} characters long", param="password")
    row, token_hash = await _open_invitation(data.token)
    password_hash = await hash_password(data.password) if data.password is not None else None
    account_id = row["account_id"]
    with acting_in(account_id):
        try:
            async with DB.transaction():
                consumed = await InvitationRow.raw(_CONSUME, token_hash, account_id)
                if not consumed:
                    raise _invalid_link()
                invitation = consumed[0]
                user = await scoped(User).insert(user_email=invitation["email"], user_role=invitation["role"],
                                                 password_hash=password_hash)
                await invitations.update({InvitationRow.accepted_user_id: user["id"]}).where(
                    InvitationRow.id == invitation["id"])
                invitee = Actor("user", str(user["id"]), user["user_role"])
                await record("invitation.accepted", target_type="invitation", target_id=invitation["id"],
                             before={k: v for k, v in row.items() if k != "account_name"},
                             after=await invitations.get(InvitationRow.id == invitation["id"]),
                             detail={"user_id": user["id"]}, actor=invitee)
                await record("user.created", target_type="user", target_id=user["id"], after=user,
                             detail={"invitation_id": invitation["id"]}, actor=invitee)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"'{row['email']}' is already a user of this account", param="token",
                           code="user_exists") from None
    return AcceptedUser(user_id=user["id"], user_email=user["user_email"], user_role=user["user_role"],
                        account_id=account_id)
