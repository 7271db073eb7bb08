"""Gemini streams: one `data:` payload at a time (its events carry nothing else)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from app.providers.sse import data_of, sse_events


async def sse_payloads(response: httpx.Response) -> AsyncIterator[bytes]:
    """The joined `data:` lines of each event; events without data (comments, pings) are skipped."""
    async for event in sse_events(response):
        payload = data_of(event.rstrip(b"\n"))
        if payload is not None:
            yield payload
