"""The one query that runs before the account is known: a key hash to the key's principal.

It resolves the tenant, so it cannot go through the tenant-scoped layer; it joins on
account_id explicitly and refuses keys of soft-deleted accounts.
"""

from __future__ import annotations

from app.auth.principal import INTERNAL_USER, Principal

_PRINCIPAL_BY_HASH = """
SELECT k.id, k.account_id, k.user_id, k.team_id,
       COALESCE(k.organization_id, t.organization_id, u.organization_id) AS organization_id,
       k.models, t.models AS team_models, EXTRACT(EPOCH FROM k.expires) AS expires_at,
       k.blocked OR COALESCE(t.blocked, false) AS blocked, u.user_role
FROM virtual_keys k
JOIN accounts a ON a.id = k.account_id AND a.deleted_at IS NULL
LEFT JOIN teams t ON t.id = k.team_id AND t.account_id = k.account_id
LEFT JOIN users u ON u.id = k.user_id AND u.account_id = k.account_id
WHERE k.key_hash = $1
"""


async def load_principal(pool, key_hash: str) -> Principal | None:
    """The principal behind a key hash; None when unknown, blocked, or its account is deleted."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(_PRINCIPAL_BY_HASH, key_hash)
    if row is None or row["blocked"]:
        return None
    models = tuple(row["models"] or ()) or tuple(row["team_models"] or ())
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
    )
