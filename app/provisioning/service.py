"""Receiving a webhook call: check the signature, record the event once, queue its job.

Zitadel retries a delivery until it gets a 2xx. An event seen before answers 200 and changes
nothing; if its job is still pending (say Redis was down when it first came), it is queued
again, which the job id makes harmless."""

from __future__ import annotations

import msgspec

from app.lib.errors import ServiceUnavailable
from app.lib.logs import register_secret
from app.provisioning import queries
from app.provisioning.events import decode_event, profile_of
from app.provisioning.queue import queue_event
from app.provisioning.signature import verify_signature
from app.runtime import runtime


class WebhookReceipt(msgspec.Struct, omit_defaults=True):
    status: str  # accepted | duplicate | ignored
    event_id: int | None = None
    detail: str | None = None


async def receive(body: bytes, signature: str | None) -> WebhookReceipt:
    settings = runtime().settings
    register_secret(settings.zitadel_webhook_signing_key)
    verify_signature(signature, body, settings.zitadel_webhook_signing_key)
    event = decode_event(body)
    if event.kind is None:
        return WebhookReceipt("ignored", detail="unsupported_event")
    profile = profile_of(event)  # a malformed payload is refused before anything is written
    async with runtime().db.acquire() as conn:
        event_id = await conn.fetchval(
            queries.RECORD_EVENT, event.instance_id, event.aggregate_id, event.sequence, event.event_type,
            event.resource_owner, msgspec.json.encode(profile).decode(), event.occurred_at)
        status = "accepted"
        if event_id is None:
            seen = await conn.fetchrow(queries.EVENT_BY_KEY, event.instance_id, event.aggregate_id, event.sequence)
            event_id, status = seen["id"], "duplicate"
            if seen["status"] != "pending":
                return WebhookReceipt(status, event_id)
    try:
        await queue_event(runtime().redis, event_id)
    except Exception:  # noqa: BLE001 - any Redis failure: Zitadel's retry will queue it again
        raise ServiceUnavailable("The event is recorded but could not be queued; retry the delivery",
                                 code="queue_unavailable") from None
    return WebhookReceipt(status, event_id)
