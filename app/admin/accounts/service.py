"""Creating, changing and (soft-)deleting accounts; a deletion refuses the account's keys at once. Every
change is audited as an event of the account concerned, and published only after it committed."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID

import asyncpg
import msgspec

from app.admin import fields
from app.admin.accounts.schemas import Account, AccountCreate, AccountUpdate
from app.audit.record import audited_change, record
from app.db.piccolo_conf import DB
from app.db.tables import Account as AccountRow
from app.db.tables import AccountAdmin
from app.lib.errors import Conflict, InvalidRequest, NotFound
from app.runtime import runtime
from app.tenancy.context import acting_in
from app.tenancy.scoped import load_json_columns


def _normalise_domain(domain: str | None) -> str | None:
    if domain is None:
        return None
    domain = domain.strip().lower().lstrip("@")
    if not domain or "." not in domain or any(c.isspace() or c in "/@" for c in domain):
        raise InvalidRequest("'domain' must be an email domain such as example.com", param="domain")
    return domain


def _markup(value: float) -> Decimal:
    """The price book: tenants pay provider cost × (100 + markup) / 100. A discount may go
    down to (but not reach) -100, where calls would be free; a markup stops at 1000%."""
    markup = Decimal(str(value))
    if not markup.is_finite() or not Decimal(-100) < markup <= Decimal(1000):
        raise InvalidRequest("'price_markup_percent' must be above -100 and at most 1000",
                             param="price_markup_percent")
    return markup


async def _admins(account_ids: list[UUID]) -> dict[UUID, list[str]]:
    """Across accounts (the super admin's list): row-level security hides account_admins unless one account
    is bound, so a SECURITY DEFINER function answers the emails of exactly these accounts."""
    rows = await AccountAdmin.raw("SELECT account_id, email FROM public.alchemi_account_admins({})",
                                  account_ids) if account_ids else []
    admins: dict[UUID, list[str]] = {}
    for row in rows:
        admins.setdefault(row["account_id"], []).append(row["email"])
    return admins


def _account(row: dict, admins: list[str]) -> Account:
    return Account(
        account_id=row["id"], name=row["name"], domain=row["domain"], admin_emails=sorted(admins),
        **fields.limits_of(row), price_markup_percent=float(row["price_markup_percent"]), spend=float(row["spend"]),
        metadata=row["metadata"] if isinstance(row["metadata"], dict) else {}, status="deleted" if row["deleted_at"] else "active",
        created_at=row["created_at"],
    )


async def _live_row(account_id: UUID) -> dict:
    row = await AccountRow.select().where((AccountRow.id == account_id) & AccountRow.deleted_at.is_null()).output(
        load_json=True).first()
    if row is None:
        raise NotFound("No such account", code="account_not_found")
    return row


async def create_account(data: AccountCreate) -> Account:
    if not data.name.strip():
        raise InvalidRequest("'name' is required", param="name")
    domain = _normalise_domain(data.domain)
    emails = sorted({fields.email(email, "admin_emails") for email in data.admin_emails})
    try:
        async with DB.transaction():
            rows = await AccountRow.insert(AccountRow(
                name=data.name.strip(), domain=domain, **fields.limits(data),
                price_markup_percent=_markup(data.price_markup_percent), metadata=data.metadata,
            )).returning(*AccountRow._meta.columns)
            row = load_json_columns(AccountRow, rows[0])
            with acting_in(row["id"]):
                for email in emails:
                    await AccountAdmin.insert(AccountAdmin(account_id=row["id"], email=email))
            await record("account.created", target_type="account", target_id=row["id"],
                         after={**row, "admin_emails": emails}, account_id=row["id"])
    except asyncpg.UniqueViolationError:
        raise Conflict(f"Another account already owns the domain '{domain}'", param="domain") from None
    return _account(row, emails)


async def list_accounts() -> list[Account]:
    rows = await AccountRow.select().where(AccountRow.deleted_at.is_null()).order_by(AccountRow.created_at).output(
        load_json=True)
    admins = await _admins([row["id"] for row in rows])
    return [_account(row, admins.get(row["id"], [])) for row in rows]


async def get_account(account_id: UUID) -> Account:
    row = await _live_row(account_id)
    return _account(row, (await _admins([account_id])).get(account_id, []))


async def update_account(account_id: UUID, data: AccountUpdate) -> Account:
    """Changes are published to the account: its limits and price book are part of every key's principal."""
    row = await _live_row(account_id)
    values: dict = {AccountRow.updated_at: datetime.now(timezone.utc)}
    if data.name is not msgspec.UNSET:
        values[AccountRow.name] = data.name.strip()
    if data.domain is not msgspec.UNSET:
        values[AccountRow.domain] = _normalise_domain(data.domain)
    values.update({getattr(AccountRow, name): value for name, value in fields.limits(data, row).items()})
    if data.price_markup_percent is not msgspec.UNSET:
        values[AccountRow.price_markup_percent] = _markup(data.price_markup_percent)
    if data.metadata is not msgspec.UNSET:
        values[AccountRow.metadata] = data.metadata
    try:
        async with audited_change("account.updated", "account", account_id, before=row,
                                  account_id=account_id) as change:
            await AccountRow.update(values).where(AccountRow.id == account_id)
            change.after = await _live_row(account_id)
    except asyncpg.UniqueViolationError:
        raise Conflict("Another account already owns that domain", param="domain") from None
    await runtime().bus.publish("account", str(account_id))
    return await get_account(account_id)


async def delete_account(account_id: UUID) -> Account:
    """Soft delete: the row stays (the ledger points at it); every key of it is refused from now on."""
    before = await _live_row(account_id)
    now = datetime.now(timezone.utc)
    async with audited_change("account.deleted", "account", account_id, before=before,
                              account_id=account_id) as change:
        await AccountRow.update({AccountRow.deleted_at: now, AccountRow.domain: None,
                                 AccountRow.updated_at: now}).where(AccountRow.id == account_id)
        row = change.after = await AccountRow.select().where(AccountRow.id == account_id).output(
            load_json=True).first()
    await runtime().bus.publish("account", str(account_id))
    return _account(row, (await _admins([account_id])).get(account_id, []))


async def add_admin(account_id: UUID, email: str) -> Account:
    await _live_row(account_id)
    email = fields.email(email, "email")
    with acting_in(account_id):
        async with DB.transaction():
            exists = await AccountAdmin.exists().where(
                (AccountAdmin.account_id == account_id) & (AccountAdmin.email == email))
            if not exists:
                await AccountAdmin.insert(AccountAdmin(account_id=account_id, email=email))
                await record("account.admin_added", target_type="account", target_id=account_id,
                             after={"email": email}, account_id=account_id)
    return await get_account(account_id)


async def remove_admin(account_id: UUID, email: str) -> Account:
    await _live_row(account_id)
    email = fields.email(email, "email")
    with acting_in(account_id):
        async with DB.transaction():
            removed = await AccountAdmin.delete().where(
                (AccountAdmin.account_id == account_id) & (AccountAdmin.email == email)).returning(AccountAdmin.id)
            if not removed:
                raise NotFound(f"'{email}' is not an admin of this account", param="email")
            await record("account.admin_removed", target_type="account", target_id=account_id,
                         before={"email": email}, account_id=account_id)
    return await get_account(account_id)
