"""/invitation/*: an account's invitations (admins), and the link an invitee opens and accepts (no key)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import Parameter

from app.admin.access import PRINCIPAL, permitted
from app.admin.invitations import service
from app.admin.invitations.schemas import (AcceptedUser, Invitation, InvitationAccept, InvitationCreate,
                                           InvitationDelete, InvitationList, InvitationPreview)
from app.auth.principal import Principal


class InvitationController(Controller):
    path = "/invitation"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["invitations"]

    @post("/new", status_code=200)
    async def create(self, principal: Principal, data: InvitationCreate) -> Invitation:
        return await service.invite(principal, data)

    @get("/list")
    async def list(self, principal: Principal, page: int = Parameter(default=1, ge=1),
                   page_size: int = Parameter(default=25, ge=1, le=100)) -> InvitationList:
        return await service.list_invitations(page, page_size)

    @get("/info")
    async def info(self, principal: Principal, invitation_id: str) -> Invitation:
        return await service.invitation_info(invitation_id)

    @post("/delete", status_code=200)
    async def remove(self, principal: Principal, data: InvitationDelete) -> Invitation:
        return await service.delete_invitation(data.invitation_id)


class InvitationLinkController(Controller):
    """The emailed link: its token is the only credential. GET shows the invitation and changes
    nothing (mail scanners open links); POST accepts it."""

    path = "/invitation/accept"
    tags = ["invitations"]

    @get("/")
    async def show(self, token: str) -> InvitationPreview:
        return await service.preview(token)

    @post("/", status_code=200)
    async def accept(self, data: InvitationAccept) -> AcceptedUser:
        return await service.accept(data)
