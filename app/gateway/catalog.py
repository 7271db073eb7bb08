"""Each account's model names → deployments, cached in-process and dropped on `models:` invalidations."""

from __future__ import annotations

import time
from uuid import UUID

import msgspec

from app.billing.plan import LevelSpec
from app.db.tables import Account, ModelDeployment
from app.gateway.routing.settings import RouterSettings, parse_settings
from app.lib.crypto import CredentialBox
from app.lib.invalidation import InvalidationBus
from app.lib.logs import register_secret
from app.providers.base import Deployment
from app.tenancy.scoped import scoped


def _price(value) -> str | None:
    return None if value is None else str(value)


def _positive_int(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class AccountModels(msgspec.Struct, frozen=True):
    groups: dict[str, list[Deployment]]
    settings: RouterSettings


class DeploymentCatalog:
    def __init__(self, bus: InvalidationBus, credentials: CredentialBox, ttl: float) -> None:
        self._bus = bus
        self._credentials = credentials
        self._ttl = ttl
        self._by_account: dict[UUID, tuple[AccountModels, float]] = {}
        self.generation = 0
        bus.subscribe(self._on_invalidate)

    def _on_invalidate(self, topic: str, ident: str) -> None:
        self.generation += 1
        if topic in ("models", "account"):
            self._by_account.pop(UUID(ident), None)
        elif topic == "all":
            self._by_account.clear()

    async def models_of(self, account_id: UUID) -> AccountModels:
        entry = self._by_account.get(account_id)
        if entry is not None and entry[1] > time.monotonic() and self._bus.healthy:
            return entry[0]
        generation = self.generation
        models = AccountModels(await self._load(), await self._settings(account_id))
        if generation == self.generation:
            self._by_account[account_id] = (models, time.monotonic() + self._ttl)
        return models

    async def _settings(self, account_id: UUID) -> RouterSettings:
        row = await Account.select(Account.router_settings).where(Account.id == account_id).output(
            load_json=True).first()
        return parse_settings(row["router_settings"] if row else None)

    async def _load(self) -> dict[str, list[Deployment]]:
        """Runs inside the request's account context: the scoped layer adds the account filter."""
        groups: dict[str, list[Deployment]] = {}
        for row in await scoped(ModelDeployment).select():
            deployment = deployment_from_row(row, self._credentials)
            groups.setdefault(deployment.model_name, []).append(deployment)
        return groups


def deployment_from_row(row: dict, credentials: CredentialBox) -> Deployment:
    """A stored deployment with its credentials opened (they stay in memory, never in logs)."""
    api_key = credentials.open(row["api_key_encrypted"]) if row["api_key_encrypted"] else None
    secrets = (msgspec.json.decode(credentials.open(row["secret_params_encrypted"]))
               if row["secret_params_encrypted"] else {})
    for secret in (api_key, *secrets.values()):
        register_secret(secret)
    model_info = row["model_info"] if isinstance(row["model_info"], dict) else {}
    limits = ()
    if row["rpm"] is not None or row["tpm"] is not None or row["max_parallel_requests"] is not None:
        limits = (LevelSpec("deployment", str(row["id"]), rpm=row["rpm"], tpm=row["tpm"],
                            parallel=row["max_parallel_requests"]),)
    return Deployment(
        id=row["id"], account_id=row["account_id"], model_name=row["model_name"], provider=row["provider"],
        upstream_model=row["upstream_model"], api_base=row["api_base"], api_key=api_key,
        api_version=row["api_version"], timeout=float(row["timeout"]) if row["timeout"] is not None else None,
        input_cost_per_token=_price(row["input_cost_per_token"]),
        output_cost_per_token=_price(row["output_cost_per_token"]),
        params=row["provider_params"] or {}, secrets=secrets, rpm=row["rpm"], tpm=row["tpm"],
        max_parallel_requests=row["max_parallel_requests"],
        max_output_tokens=_positive_int(model_info.get("max_output_tokens")),
        weight=row["weight"] if row["weight"] is not None else 1,
        stream_timeout=float(row["stream_timeout"]) if row["stream_timeout"] is not None else None,
        limits=limits,
    )
