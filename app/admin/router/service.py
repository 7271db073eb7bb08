"""Reading and replacing an account's routing settings; a change is audited, and once committed reaches
every API process at once."""

from __future__ import annotations

import msgspec

from app.audit.record import audited_change
from app.db.tables import Account
from app.gateway.routing.settings import RouterSettings, normalise_strategy, parse_settings
from app.lib.errors import InvalidRequest
from app.runtime import runtime
from app.tenancy.context import require_account


async def get_settings() -> RouterSettings:
    return parse_settings(await _stored())


async def _stored() -> dict | None:
    row = await Account.select(Account.router_settings).where(Account.id == require_account()).output(
        load_json=True).first()
    return row["router_settings"] if row else None


def _validate(settings: RouterSettings) -> RouterSettings:
    try:
        strategy = normalise_strategy(settings.routing_strategy)
        per_group = {group: normalise_strategy(name) for group, name in settings.model_group_routing_strategy.items()}
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="routing_strategy") from None
    for name, value, low in (("num_retries", settings.num_retries, 0), ("allowed_fails", settings.allowed_fails, 1),
                             ("cooldown_time", settings.cooldown_time, 0), ("retry_after", settings.retry_after, 0),
                             ("failure_window", settings.failure_window, 1)):
        if value < low:
            raise InvalidRequest(f"'{name}' must be at least {low}", param=name)
    if settings.num_retries > 10:
        raise InvalidRequest("'num_retries' is at most 10", param="num_retries")
    return msgspec.structs.replace(settings, routing_strategy=strategy, model_group_routing_strategy=per_group)


async def replace_settings(settings: RouterSettings) -> RouterSettings:
    settings = _validate(settings)
    account_id = require_account()
    # Every field, defaults included, as read back: a default written out is no change.
    before = msgspec.structs.asdict(parse_settings(await _stored()))
    async with audited_change("router_settings.updated", "router_settings", account_id,
                              before=before) as change:
        await Account.update({Account.router_settings: msgspec.to_builtins(settings)}).where(
            Account.id == account_id)
        change.after = msgspec.structs.asdict(settings)
    await runtime().bus.publish("models", str(account_id))
    return settings
