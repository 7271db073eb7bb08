"""The two tenants the limits bench compares, and the check that admission really ran on every level.

"none" has no budget or limit anywhere, so the gateway skips admission and settlement; "all" has a
budget and rate limits on the key, user, team, organization, account and model deployment, so
every request is admitted and settled on six levels. The limits are far above what one core can
reach, so nothing is refused: the difference is the cost of the work, not of refusals.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bench.overhead.gateway import (MASTER_HEADERS, Tenant, admin_call, create_account, create_key, create_model,
                                    provision_tenant, tenant_headers)
from bench.overhead.load import Target

# Budgets are in USD: a million a day, and these rates, are out of reach of one core.
LIMITS = {"max_budget": 1_000_000, "budget_duration": "1d", "rpm_limit": 10_000_000, "tpm_limit": 1_000_000_000,
          "max_parallel_requests": 100_000}
DEPLOYMENT_LIMITS = {"rpm": 10_000_000, "tpm": 1_000_000_000, "max_parallel_requests": 100_000}
LEVELS = ("key", "user", "team", "organization", "account", "deployment")


@dataclass(frozen=True)
class BenchTenant:
    name: str  # "none" or "all"
    tenant: Tenant
    # level → entity id, as the gateway names its Redis counters (al:{level}:{id}:...)
    entities: dict[str, str]


def provision_unlimited(gateway: Target, upstream_base_url: str) -> BenchTenant:
    tenant = provision_tenant(gateway, upstream_base_url, name="bench-none")
    return BenchTenant("none", tenant, {"key": tenant.key_id, "account": tenant.account_id,
                                        "deployment": tenant.model_id})


def provision_limited(gateway: Target, upstream_base_url: str) -> BenchTenant:
    """LIMITS on the account, an organization, a team in it, a user in the team and the key; the
    model deployment gets DEPLOYMENT_LIMITS."""
    account_id = create_account(gateway, "bench-all")
    admin_call(gateway, "PATCH", f"/accounts/{account_id}", LIMITS, MASTER_HEADERS)
    headers = tenant_headers(account_id)
    model_id = create_model(gateway, headers, upstream_base_url, **DEPLOYMENT_LIMITS)
    organization_id = str(admin_call(gateway, "POST", "/organization/new",
                                     {"organization_alias": "bench-org", **LIMITS}, headers)["organization_id"])
    team_id = str(admin_call(gateway, "POST", "/team/new",
                             {"team_alias": "bench-team", "organization_id": organization_id, **LIMITS}, headers)["team_id"])
    user_id = str(admin_call(gateway, "POST", "/user/new",
                             {"user_email": "bench@example.com", "teams": [team_id], **LIMITS}, headers)["user_id"])
    key, key_id = create_key(gateway, headers, user_id=user_id, team_id=team_id, **LIMITS)
    tenant = Tenant(account_id=account_id, model_id=model_id, key=key, key_id=key_id)
    return BenchTenant("all", tenant, {"key": key_id, "user": user_id, "team": team_id,
                                       "organization": organization_id, "account": account_id,
                                       "deployment": model_id})


def levels_with_counters(redis_url: str, bench_tenant: BenchTenant) -> dict[str, bool]:
    """For each of LEVELS: does Redis hold an admission counter (al:{level}:{id}:*) of this tenant's entity?"""
    client = redis.Redis.from_url(redis_url)
    try:
        found = {}
        for level in LEVELS:
            entity = bench_tenant.entities.get(level)
            found[level] = entity is not None and any(True for _ in client.scan_iter(match=f"al:{level}:{entity}:*"))
        return found
    finally:
        client.close()
