"""The one query that runs before the account is known: a key hash to the key's principal.

It resolves the tenant, so it cannot go through the tenant-scoped layer; it joins on
account_id explicitly and refuses keys of soft-deleted accounts. Row-level security hides every
account until one is bound, so the transaction first binds the key's account, found by the
SECURITY DEFINER function `alchemi_account_of_key_hash` (it answers that one uuid, nothing else).
"""

from __future__ import annotations

from decimal import Decimal

from app.auth.principal import INTERNAL_USER, Principal
from app.billing.plan import LevelSpec
from app.tenancy.database import bind_account

_LIMITS = "{p}.max_budget AS {p}_max_budget, {p}.budget_duration AS {p}_budget_duration, " \
          "{p}.budget_reset_at AS {p}_budget_reset_at, {p}.rpm_limit AS {p}_rpm, {p}.tpm_limit AS {p}_tpm, " \
          "{p}.max_parallel_requests AS {p}_parallel"

_PRINCIPAL_BY_HASH = f"""
SELECT k.id, k.account_id, k.user_id, k.team_id, o.id AS organization_id,
       k.models, t.models AS team_models, EXTRACT(EPOCH FROM k.expires) AS expires_at,
       k.blocked OR COALESCE(t.blocked, false) AS blocked, u.user_role, a.price_markup_percent,
       {_LIMITS.format(p="k")}, {_LIMITS.format(p="u")}, {_LIMITS.format(p="t")}, {_LIMITS.format(p="o")},
       {_LIMITS.format(p="a")}
FROM virtual_keys k
JOIN accounts a ON a.id = k.account_id AND a.deleted_at IS NULL
LEFT JOIN teams t ON t.id = k.team_id AND t.account_id = k.account_id
LEFT JOIN users u ON u.id = k.user_id AND u.account_id = k.account_id
LEFT JOIN organizations o ON o.id = COALESCE(k.organization_id, t.organization_id, u.organization_id)
                         AND o.account_id = k.account_id
WHERE k.key_hash = $1
"""

_BIND_ACCOUNT_OF_KEY = "SELECT set_config('app.account_id', " \
                       "COALESCE(public.alchemi_account_of_key_hash($1)::text, ''), true)"

_LEVELS = (("key", "k", "id"), ("user", "u", "user_id"), ("team", "t", "team_id"),
           ("organization", "o", "organization_id"), ("account", "a", "account_id"))


def _spec(row, level: str, prefix: str, id_column: str) -> LevelSpec | None:
    entity_id = row[id_column]
    if entity_id is None:
        return None
    return LevelSpec(
        level=level, entity_id=str(entity_id), max_budget=row[f"{prefix}_max_budget"],
        budget_duration=row[f"{prefix}_budget_duration"], budget_reset_at=row[f"{prefix}_budget_reset_at"],
        rpm=row[f"{prefix}_rpm"], tpm=row[f"{prefix}_tpm"], parallel=row[f"{prefix}_parallel"],
    )


async def load_principal(pool, key_hash: str) -> Principal | None:
    """The principal behind a key hash; None when unknown, blocked, or its account is deleted."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_BIND_ACCOUNT_OF_KEY, key_hash)
        row = await conn.fetchrow(_PRINCIPAL_BY_HASH, key_hash)
    if row is None or row["blocked"]:
        return None
    models = tuple(row["models"] or ()) or tuple(row["team_models"] or ())
    specs = tuple(spec for spec in (_spec(row, *level) for level in _LEVELS) if spec is not None and spec.limited)
    return Principal(
        role=row["user_role"] or INTERNAL_USER,
        account_id=row["account_id"],
        key_id=row["id"],
        key_hash=key_hash,
        user_id=row["user_id"],
        team_id=row["team_id"],
        organization_id=row["organization_id"],
        models=models,
        expires_at=float(row["expires_at"]) if row["expires_at"] is not None else None,
        limits=specs,
        markup_percent=row["price_markup_percent"] or Decimal(0),
    )


_ACCOUNT = f"""
SELECT a.id AS account_id, a.price_markup_percent, {_LIMITS.format(p="a")}
FROM accounts a WHERE a.id = $1 AND a.deleted_at IS NULL
"""


async def load_account_principal(pool, account_id, role: str) -> Principal | None:
    """The principal of a super admin acting inside `account_id`: the account's own limits apply."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(_ACCOUNT, account_id)
    if row is None:
        return None
    spec = _spec(row, "account", "a", "account_id")
    return Principal(role=role, account_id=account_id, limits=(spec,) if spec and spec.limited else (),
                     markup_percent=row["price_markup_percent"] or Decimal(0))


_USER = f"""
SELECT u.id AS user_id, u.account_id, o.id AS organization_id, u.user_role, a.price_markup_percent,
       {_LIMITS.format(p="u")}, {_LIMITS.format(p="o")}, {_LIMITS.format(p="a")}
FROM users u
JOIN accounts a ON a.id = u.account_id AND a.deleted_at IS NULL
LEFT JOIN organizations o ON o.id = u.organization_id AND o.account_id = u.account_id
WHERE u.id = $1 AND u.account_id = $2
"""


async def load_user_principal(pool, user_id, account_id) -> Principal | None:
    """The principal of a console session's user, as the user is now (role, organization, limits);
    None once the user or the account is gone. The session names the account, so it is bound first."""
    async with pool.acquire() as conn, conn.transaction():
        await bind_account(conn, account_id)
        row = await conn.fetchrow(_USER, user_id, account_id)
    if row is None:
        return None
    levels = (("user", "u", "user_id"), ("organization", "o", "organization_id"), ("account", "a", "account_id"))
    specs = tuple(spec for spec in (_spec(row, *level) for level in levels) if spec is not None and spec.limited)
    return Principal(
        role=row["user_role"] or INTERNAL_USER, account_id=row["account_id"], user_id=row["user_id"],
        organization_id=row["organization_id"], limits=specs,
        markup_percent=row["price_markup_percent"] or Decimal(0),
    )
