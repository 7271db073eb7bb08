"""Reading the audit trail in tests: events straight from PostgreSQL (the owner's pool bypasses row-level
security), and management calls that name their request id."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from tests.support.api import AdminClient


async def events(db, account_id: str | uuid.UUID | None, *, target_id: Any = None, action: str | None = None,
                 since=None) -> list[dict]:
    """The account's events (None: those of no account), oldest first, with `changes` and `detail` decoded."""
    clauses, args = ["account_id IS NOT DISTINCT FROM $1"], [uuid.UUID(str(account_id)) if account_id else None]
    for column, value in (("target_id", target_id), ("action", action)):
        if value is not None:
            args.append(str(value))
            clauses.append(f"{column} = ${len(args)}")
    if since is not None:
        args.append(since)
        clauses.append(f"occurred_at >= ${len(args)}")
    rows = await db.fetch(f"SELECT * FROM audit_events WHERE {' AND '.join(clauses)} ORDER BY occurred_at", *args)
    return [{**row, "changes": json.loads(row["changes"]), "detail": json.loads(row["detail"])} for row in rows]


async def wait_for_events(db, account_id, count: int, timeout: float = 20, **filters) -> list[dict]:
    """Events written by a worker: the first `count` once they are there (or what there is at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await events(db, account_id, **filters)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def actions(found: list[dict]) -> list[str]:
    return [event["action"] for event in found]


def who(event: dict) -> tuple:
    return event["actor_type"], event["actor_id"], event["actor_role"], event["actor_ip"]


def call(admin: AdminClient, method: str, path: str, account_id: str | None = None, *, key: str | None = None,
         request_id: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = admin.headers(account_id, key)
    if request_id:
        headers["x-request-id"] = request_id
    return admin.http.request(method, path, headers=headers, **kwargs)


def ok(admin: AdminClient, method: str, path: str, account_id: str | None = None, **kwargs: Any) -> Any:
    response = call(admin, method, path, account_id, **kwargs)
    assert response.status_code in (200, 201), f"{method} {path} → {response.status_code} {response.text}"
    return response.json()


def request_id() -> str:
    return "req-" + uuid.uuid4().hex


async def all_text(db) -> str:
    """Everything the trail holds that a secret could hide in, as one text."""
    rows = await db.fetch("SELECT concat_ws(' ', actor_id, target_id, changes::text, detail::text) AS text "
                          "FROM audit_events")
    return "\n".join(row["text"] for row in rows)
