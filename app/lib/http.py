"""The process's one upstream HTTP client: pooled keep-alive connections, explicit timeouts."""

from __future__ import annotations

import httpx

from app.settings import Settings


def create_upstream_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=settings.upstream_connect_timeout,
            read=settings.upstream_read_timeout,
            write=30.0,
            pool=10.0,
        ),
        limits=httpx.Limits(max_connections=2000, max_keepalive_connections=256, keepalive_expiry=60.0),
        follow_redirects=False,
        trust_env=False,  # never route tenant traffic through a proxy picked up from the environment
    )
