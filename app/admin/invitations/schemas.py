"""Request and response shapes of /invitation/*."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class InvitationCreate(msgspec.Struct):
    user_email: str
    user_role: str | None = None


class Invitation(msgspec.Struct):
    id: UUID
    account_id: UUID
    user_email: str
    user_role: str
    status: str  # pending (mail not sent yet) | sent | accepted | expired
    is_accepted: bool
    created_at: datetime
    created_by: UUID | None  # the inviting user; None for the super admin's master key
    created_by_email: str | None
    expires_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    user_id: UUID | None  # the user the acceptance created


class InvitationList(msgspec.Struct):
    invitations: list[Invitation]
    total: int
    page: int
    page_size: int
    total_pages: int


class InvitationDelete(msgspec.Struct):
    invitation_id: str


class InvitationPreview(msgspec.Struct):
    """What the link's page shows before anything happens: who invited whom, to what."""

    account_name: str
    user_email: str
    user_role: str
    invited_by: str | None
    expires_at: datetime


class InvitationAccept(msgspec.Struct):
    token: str
    password: str | None = None


class AcceptedUser(msgspec.Struct):
    user_id: UUID
    user_email: str
    user_role: str
    account_id: UUID
