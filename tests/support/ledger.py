"""Waiting for the workers: poll the usage ledger until the expected rows are there (or time runs out)."""

from __future__ import annotations

import asyncio
import time


async def wait_for_rows(db, where: str, *args, expected: int, timeout: float = 15.0) -> list:
    """Rows of usage_ledger matching `where`; waits for `expected`, then lingers briefly to catch extras."""
    deadline = time.monotonic() + timeout
    rows: list = []
    while time.monotonic() < deadline:
        rows = await db.fetch(f"SELECT * FROM usage_ledger WHERE {where}", *args)
        if len(rows) >= expected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    return await db.fetch(f"SELECT * FROM usage_ledger WHERE {where} ORDER BY started_at", *args)
