"""Audit trail jobs: `ship_audit_events` (cron: the outbox to OpenObserve, app/audit/shipping.py) and
`purge_audit_events` (cron: retention, app/audit/retention.py). Without OPENOBSERVE_URL nothing is shipped
and events stay queryable in PostgreSQL (`GET /audit/logs`)."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import httpx
from redis.exceptions import RedisError

from app.audit.openobserve import client_from_settings
from app.audit.retention import purge_expired
from app.audit.shipping import ShipPolicy, ship_pending
from app.settings import Settings

log = logging.getLogger("alchemi.tasks.audit")


def audit_context(settings: Settings, http: httpx.AsyncClient) -> dict[str, Any]:
    """What these jobs need in the worker's ctx (workers/settings.startup)."""
    return {"openobserve": client_from_settings(settings, http),
            "audit_ship_policy": ShipPolicy.from_settings(settings),
            "audit_retention_days": settings.audit_log_retention_days}


async def ship_audit_events(ctx: dict[str, Any]) -> str:
    client = ctx.get("openobserve")
    if client is None:
        return "shipping off (no OPENOBSERVE_URL)"
    try:
        report = await ship_pending(ctx["db"], client, ctx["redis"], ctx["audit_ship_policy"])
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, RedisError) as exc:
        # Nothing is lost: unshipped events stay in PostgreSQL, claimed ones come back when their lease ends.
        log.warning("audit shipping run failed; the next tick tries again", extra={"error": type(exc).__name__})
        return f"failed ({type(exc).__name__})"
    if report.skipped:
        return f"skipped ({report.skipped}); backlog {report.backlog}"
    return f"shipped {report.shipped}, resend {report.resend}, backlog {report.backlog}"


async def purge_audit_events(ctx: dict[str, Any]) -> int:
    report = await purge_expired(ctx["db"], ctx["audit_retention_days"])
    if report.deleted:
        log.info("expired audit events deleted", extra={"deleted": report.deleted, "batches": report.batches})
    return report.deleted
