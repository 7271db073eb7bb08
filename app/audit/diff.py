"""What an audit event says changed: the fields that differ between before and after, as JSON values,
with every secret replaced by "[redacted]" (by field name, and by value through the log redactor)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import msgspec

from app.lib.logs import redact

REDACTED = "[redacted]"
# Field names under which a secret (or its hash) is stored or sent.
_SECRET_FIELD = re.compile(
    r"(secret|passw|api_key|apikey|_hash$|^hash$|credential|private_key|signing_key|access_key|session_token|"
    r"auth_token|^token_hash$|^key$|bearer|cookie|authorization)", re.IGNORECASE)
# Bookkeeping columns that change on every write and explain nothing.
_NOISE = frozenset({"updated_at"})


def is_secret_field(name: str) -> bool:
    return bool(_SECRET_FIELD.search(name))


def plain(value: Any, name: str = "") -> Any:
    """A JSON-ready copy of `value` with secrets redacted."""
    if name and is_secret_field(name) and value not in (None, "", {}, []):
        return REDACTED
    if isinstance(value, dict):
        return {str(key): plain(item, str(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, msgspec.Struct):
        return plain(msgspec.structs.asdict(value))
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, bytes):
        return REDACTED
    return value


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """{"before": {...}, "after": {...}} holding only the fields that differ (all of them for a creation
    or a deletion), redacted. A redacted field that changed shows as changed, never its values."""
    old, new = plain(before or {}), plain(after or {})
    if before is None or after is None:
        result: dict[str, Any] = {}
        if before is not None:
            result["before"] = {k: v for k, v in old.items() if k not in _NOISE}
        if after is not None:
            result["after"] = {k: v for k, v in new.items() if k not in _NOISE}
        return result
    changed = sorted(name for name in set(old) | set(new)
                     if name not in _NOISE and (old.get(name) != new.get(name) or _secret_changed(name, before, after)))
    return {"before": {name: old.get(name) for name in changed}, "after": {name: new.get(name) for name in changed}}


def _secret_changed(name: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    # Both sides redact to the same marker; compare the raw values to know whether it changed.
    return is_secret_field(name) and before.get(name) != after.get(name)
