"""The upstream timeout every adapter sends with: the deployment's read timeout over the shared client's."""

from __future__ import annotations

import uuid

import httpx

from app.providers.base import Deployment, request_timeout

CLIENT_TIMEOUT = httpx.Timeout(connect=5, read=600, write=30, pool=10)


def _deployment(**timeouts: float | None) -> Deployment:
    return Deployment(id=uuid.uuid4(), account_id=uuid.uuid4(), model_name="m", provider="openai",
                      upstream_model="gpt-4o", **timeouts)


async def test_a_deployment_without_timeouts_uses_the_clients_own():
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        assert request_timeout(client, _deployment()) == CLIENT_TIMEOUT
        assert request_timeout(client, _deployment(), stream=True) == CLIENT_TIMEOUT


async def test_the_deployment_sets_only_the_read_timeout():
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        timeout = request_timeout(client, _deployment(timeout=12, stream_timeout=3))
    assert timeout == httpx.Timeout(connect=5, read=12, write=30, pool=10)


async def test_a_stream_waits_stream_timeout_between_chunks_else_timeout():
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        assert request_timeout(client, _deployment(timeout=12, stream_timeout=3), stream=True).read == 3
        assert request_timeout(client, _deployment(timeout=12), stream=True).read == 12
        assert request_timeout(client, _deployment(stream_timeout=3), stream=True).read == 3
        assert request_timeout(client, _deployment(stream_timeout=3)) == CLIENT_TIMEOUT
