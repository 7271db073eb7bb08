"""/team/*: teams of the caller's account and their members."""

from __future__ import annotations

from litestar import Controller, get, post

from app.admin.access import PRINCIPAL, permitted
from app.admin.teams import service
from app.admin.teams.schemas import (MemberAdd, MemberDelete, Team, TeamCreate, TeamDelete, TeamInfoResponse,
                                     TeamsDeleted, TeamUpdate)
from app.auth.principal import Principal


class TeamController(Controller):
    path = "/team"
    guards = [permitted]
    dependencies = PRINCIPAL
    tags = ["teams"]

    @post("/new", status_code=200)
    async def create(self, principal: Principal, data: TeamCreate) -> Team:
        return await service.create_team(data, principal)

    @get("/info")
    async def info(self, principal: Principal, team_id: str) -> TeamInfoResponse:
        team, keys = await service.team_info(team_id, principal)
        return TeamInfoResponse(team_id=team.team_id, team_info=team, keys=keys)

    @get("/list")
    async def list(self, principal: Principal, organization_id: str | None = None,
                   user_id: str | None = None) -> list[Team]:
        return await service.list_teams(organization_id, user_id, principal)

    @post("/update", status_code=200)
    async def update(self, principal: Principal, data: TeamUpdate) -> Team:
        return await service.update_team(data, principal)

    @post("/member_add", status_code=200)
    async def add_member(self, principal: Principal, data: MemberAdd) -> Team:
        return await service.add_members(data, principal)

    @post("/member_delete", status_code=200)
    async def remove_member(self, principal: Principal, data: MemberDelete) -> Team:
        return await service.remove_member(data, principal)

    @post("/delete", status_code=200)
    async def remove(self, principal: Principal, data: TeamDelete) -> TeamsDeleted:
        teams, keys = await service.delete_teams(data.team_ids, principal)
        return TeamsDeleted(deleted_teams=teams, deleted_keys=keys)
