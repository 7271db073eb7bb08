"""Zitadel Actions v2 event bodies: decoding, and the little of each payload that we keep.

    {aggregateID, aggregateType, resourceOwner, instanceID, version, sequence, event_type,
     created_at, userID, event_payload}

`event_payload` is a JSON object in some Zitadel versions and base64 of that JSON in others.
`userID` is whoever made the change; the user the event is about is `aggregateID`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

import msgspec

from app.admin import fields
from app.lib.errors import InvalidRequest

# Event types we act on, by what they mean here. Zitadel's finer-grained profile/email events
# and self-registration mean the same to us as the generic ones.
KINDS = {
    "user.human.added": "added",
    "user.human.selfregistered": "added",
    "user.human.changed": "changed",
    "user.human.profile.changed": "changed",
    "user.human.email.changed": "changed",
    "user.deactivated": "deactivated",
    "user.removed": "removed",
}

ZitadelId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Sequence = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_NAME_MAX = 200


class ZitadelEvent(msgspec.Struct, frozen=True):
    aggregate_id: ZitadelId = msgspec.field(name="aggregateID")
    resource_owner: ZitadelId = msgspec.field(name="resourceOwner")
    instance_id: ZitadelId = msgspec.field(name="instanceID")
    sequence: Sequence
    event_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    aggregate_type: str = msgspec.field(name="aggregateType", default="user")
    version: str | int | None = None
    created_at: str | None = None
    user_id: str | None = msgspec.field(name="userID", default=None)
    event_payload: dict[str, Any] | str | None = None

    @property
    def kind(self) -> str | None:
        """added | changed | deactivated | removed, or None for an event we do not act on."""
        return KINDS.get(self.event_type) if self.aggregate_type == "user" else None

    @property
    def occurred_at(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.created_at) if self.created_at else None
        except ValueError:
            return None  # informational only; Zitadel's nanosecond timestamps need not parse


class Profile(msgspec.Struct, frozen=True, omit_defaults=True):
    """What an event tells us about the person: nothing else of a payload is stored."""

    email: str | None = None
    name: str | None = None


def _malformed(message: str) -> InvalidRequest:
    return InvalidRequest(f"Malformed Zitadel event: {message}", code="invalid_event")


def decode_event(body: bytes) -> ZitadelEvent:
    try:
        return msgspec.json.decode(body, type=ZitadelEvent)
    except msgspec.ValidationError as exc:
        raise _malformed(str(exc)) from None
    except msgspec.DecodeError:
        raise _malformed("the body is not JSON") from None


def payload_of(event: ZitadelEvent) -> dict[str, Any]:
    """`event_payload` as an object, whether it came as one or as base64 of its JSON."""
    raw = event.event_payload
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        text = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            raise _malformed("'event_payload' is neither an object nor base64") from None
    try:
        payload = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise _malformed("'event_payload' is not base64 of JSON") from None
    if not isinstance(payload, dict):
        raise _malformed("'event_payload' must hold a JSON object")
    return payload


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _email(payload: dict[str, Any]) -> str | None:
    value = payload.get("email")
    if isinstance(value, dict):  # newer payloads nest it: {"email": {"email": …, "isVerified": …}}
        value = value.get("email") or value.get("address")
    value = _text(value) or _text(payload.get("emailAddress"))
    if value is None:
        return None
    try:
        return fields.email(value, "event_payload.email")
    except InvalidRequest:
        raise _malformed("'event_payload' holds an invalid email address") from None


def _name(payload: dict[str, Any]) -> str | None:
    sources = [payload] + [payload[k] for k in ("profile", "human") if isinstance(payload.get(k), dict)]
    for source in sources:
        name = _text(source.get("displayName")) or " ".join(
            part for part in (_text(source.get("firstName") or source.get("givenName")),
                              _text(source.get("lastName") or source.get("familyName"))) if part) or None
        if name:
            # A display name ends up in emails and UIs: no control characters, bounded length.
            return "".join(c for c in name if c.isprintable())[:_NAME_MAX] or None
    return None


def profile_of(event: ZitadelEvent) -> Profile:
    payload = payload_of(event)
    return Profile(email=_email(payload), name=_name(payload))
