"""Each account's compiled guardrails scanner, cached in-process: built from its tables on first use,
dropped on a `guardrails:<account>` (or `account:`) invalidation and after the TTL."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from app.db.piccolo_conf import DB
from app.db.tables import GuardrailConfig, GuardrailPattern, GuardrailSettings
from app.guardrails.policy import AccountGuardrails, CustomPattern, GuardSettings
from app.guardrails.scanner import Scanner, build_scanner
from app.lib.invalidation import InvalidationBus
from app.tenancy.context import acting_in
from app.tenancy.scoped import scoped

TOPIC = "guardrails"  # published by app/guardrails/service.py after a change commits; the id is the account's


def settings_of(row: dict[str, Any] | None) -> GuardSettings:
    """A guardrails_config row as the engine's settings (no row: the guard is off)."""
    if row is None:
        return GuardSettings()
    detectors = row["detectors"] if isinstance(row["detectors"], dict) else {}
    return GuardSettings(enabled=row["enabled"], action=row["action"], detectors=detectors)


async def load_guardrails(account_id: UUID) -> AccountGuardrails:
    """The account's whole configuration, read in one transaction; an account that never turned a guard
    on costs one query."""
    with acting_in(account_id):
        async with DB.transaction():
            rows = {row["guard_type"]: row for row in await scoped(GuardrailConfig).select()}
            if not any(row["enabled"] for row in rows.values()):
                return AccountGuardrails()
            patterns: tuple[CustomPattern, ...] = ()
            if (rows.get("custom_patterns") or {}).get("enabled"):
                patterns = tuple(
                    CustomPattern(id=str(row["id"]), name=row["name"], pattern=row["pattern"], action=row["action"],
                                  enabled=row["enabled"])
                    for row in await scoped(GuardrailPattern).select().where(
                        GuardrailPattern.enabled == True).order_by(GuardrailPattern.created_at))  # noqa: E712
            settings = await scoped(GuardrailSettings).select(GuardrailSettings.scan_responses).first()
    return AccountGuardrails(
        secret_detection=settings_of(rows.get("secret_detection")), pii=settings_of(rows.get("pii")),
        custom_patterns=settings_of(rows.get("custom_patterns")), patterns=patterns,
        scan_responses=bool(settings and settings["scan_responses"]))


class GuardrailsCache:
    def __init__(self, bus: InvalidationBus, ttl: float) -> None:
        self._bus = bus
        self._ttl = ttl
        # account → (scanner or None when no guard is on, expiry)
        self._by_account: dict[UUID, tuple[Scanner | None, float]] = {}
        self.generation = 0
        bus.subscribe(self._on_invalidate)

    def _on_invalidate(self, topic: str, ident: str) -> None:
        if topic in (TOPIC, "account"):
            self.generation += 1
            self._by_account.pop(UUID(ident), None)
        elif topic == "all":
            self.generation += 1
            self._by_account.clear()

    async def scanner_of(self, account_id: UUID) -> Scanner | None:
        entry = self._by_account.get(account_id)
        if entry is not None and entry[1] > time.monotonic() and self._bus.healthy:
            return entry[0]
        generation = self.generation
        # A pattern that stopped compiling (a newer engine's rules) must not take the gateway down:
        # build_scanner skips what it cannot compile; the API refused such patterns when they were stored.
        scanner = build_scanner(await load_guardrails(account_id))
        if generation == self.generation:  # no change was announced while we read
            self._by_account[account_id] = (scanner, time.monotonic() + self._ttl)
        return scanner
