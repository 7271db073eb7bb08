"""The caller of a request, resolved once and carried through it."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import msgspec

from app.billing.plan import LevelSpec

SUPER_ADMIN = "super_admin"
ACCOUNT_ADMIN = "account_admin"
ORG_ADMIN = "org_admin"
TEAM_ADMIN = "team_admin"
INTERNAL_USER = "internal_user"
INTERNAL_USER_VIEWER = "internal_user_viewer"
ROLES = (SUPER_ADMIN, ACCOUNT_ADMIN, ORG_ADMIN, TEAM_ADMIN, INTERNAL_USER, INTERNAL_USER_VIEWER)
ADMIN_ROLES = frozenset({SUPER_ADMIN, ACCOUNT_ADMIN})


class Principal(msgspec.Struct, frozen=True):
    role: str
    account_id: UUID | None
    key_id: UUID | None = None
    key_hash: str | None = None
    user_id: UUID | None = None
    team_id: UUID | None = None
    organization_id: UUID | None = None
    models: tuple[str, ...] = ()
    expires_at: float | None = None
    limits: tuple[LevelSpec, ...] = ()  # only the levels that have a budget or a rate limit
    markup_percent: Decimal = Decimal(0)  # the account's price book

    @property
    def is_super_admin(self) -> bool:
        return self.role == SUPER_ADMIN

    def may_use_model(self, model_name: str) -> bool:
        return not self.models or model_name in self.models
