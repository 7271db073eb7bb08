"""OpenObserve as the audit trail's destination: send events (`POST /api/{org}/{stream}/_json`) and ask which
event ids it already holds (`POST /api/{org}/_search`), over the worker's shared httpx client."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx
import msgspec

from app.lib.logs import redact, register_secret
from app.settings import Settings

# OpenObserve refuses records whose _timestamp is older than ZO_INGEST_ALLOWED_UPTO (5 hours by default). An
# event shipped later than this (after a long outage) carries its shipping time in _timestamp, so it is not
# refused for ever; its own time is always in `occurred_at`.
LATE_AFTER = timedelta(hours=4)
_SEARCH_PAGES = 10  # a resent event may be held more than once: page through duplicates, within reason
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ShipFailed(Exception):
    """OpenObserve gave no verdict on a request: timeout, connection failure, a status other than 200, or an
    answer we cannot read. `reason` names only the kind of failure, never a credential or a body."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class IngestResult(msgspec.Struct, frozen=True):
    """OpenObserve's verdict: it answers 200 even when it refused some records (`failed` > 0)."""

    successful: int
    failed: int
    error: str | None = None


class AuditRecord(msgspec.Struct, frozen=True):
    """One audit event as the outbox holds it (changes and detail as JSON text)."""

    id: UUID
    account_id: UUID | None
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_role: str | None
    actor_ip: str | None
    action: str
    target_type: str
    target_id: str | None
    changes: str
    detail: str
    outcome: str
    request_id: str | None

    def wire(self, now: datetime) -> dict[str, Any]:
        """The flat record OpenObserve stores: `event_id` is stable across resends, so duplicates are
        recognisable; changes and detail stay JSON text (one column each, not one per changed field)."""
        stamp = self.occurred_at if now - self.occurred_at < LATE_AFTER else now
        record: dict[str, Any] = {
            "_timestamp": micros(stamp), "event_id": str(self.id), "occurred_at": self.occurred_at.isoformat(),
            "account_id": str(self.account_id) if self.account_id else None, "actor_type": self.actor_type,
            "actor_id": self.actor_id, "actor_role": self.actor_role, "actor_ip": self.actor_ip,
            "action": self.action, "target_type": self.target_type, "target_id": self.target_id,
            "outcome": self.outcome, "request_id": self.request_id,
            # Already redacted when recorded; redacted again so a secret registered since cannot leave either.
            "changes": redact(self.changes), "detail": redact(self.detail),
        }
        return {name: value for name, value in record.items() if value is not None}


def micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


class _StreamStatus(msgspec.Struct):
    name: str = ""
    successful: int = 0
    failed: int = 0
    error: str | None = None


class _IngestAnswer(msgspec.Struct):
    status: list[_StreamStatus] = []


class _SearchAnswer(msgspec.Struct):
    hits: list[dict[str, Any]] = []


class OpenObserve:
    """A client of one organization and stream. Basic auth is an httpx.Auth on each request; the timeout
    bounds each call as a whole (connect, send, read), so a server trickling bytes cannot hold a run."""

    def __init__(self, http: httpx.AsyncClient, url: str, org: str, stream: str, user: str | None,
                 password: str | None, timeout: float) -> None:
        self._http = http
        base = url.rstrip("/")
        self._ingest_url = f"{base}/api/{quote(org, safe='')}/{quote(stream, safe='')}/_json"
        self._search_url = f"{base}/api/{quote(org, safe='')}/_search"
        self._stream = stream.replace('"', '""')
        self._auth = httpx.BasicAuth(user, password or "") if user else None
        self._timeout_s = timeout
        self._timeout = httpx.Timeout(timeout)

    async def _post(self, url: str, body: Any, params: dict[str, str] | None = None) -> bytes:
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._http.post(url, content=msgspec.json.encode(body), params=params,
                                                  headers={"content-type": "application/json"}, auth=self._auth,
                                                  timeout=self._timeout)
        except (httpx.TimeoutException, TimeoutError):
            raise ShipFailed("timeout") from None
        except httpx.HTTPError as exc:  # connection refused or reset, TLS, protocol errors
            raise ShipFailed(f"transport error ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ShipFailed(f"HTTP {response.status_code}", response.status_code)
        return response.content

    async def ingest(self, records: list[dict[str, Any]]) -> IngestResult:
        raw = await self._post(self._ingest_url, records)
        try:
            answer = msgspec.json.decode(raw, type=_IngestAnswer)
        except msgspec.MsgspecError:
            raise ShipFailed("unreadable ingest answer", 200) from None
        errors = [status.error for status in answer.status if status.error]
        return IngestResult(sum(status.successful for status in answer.status),
                            sum(status.failed for status in answer.status), errors[0] if errors else None)

    async def find_ids(self, ids: list[UUID], start_us: int, end_us: int) -> set[UUID]:
        """Which of these event ids the stream holds with a _timestamp in [start_us, end_us)."""
        wanted = set(ids)
        if not wanted:
            return set()
        # Ids are UUIDs, so the literals need no escaping.
        literals = ", ".join(f"'{event_id}'" for event_id in sorted(map(str, wanted)))
        sql = f'SELECT event_id FROM "{self._stream}" WHERE event_id IN ({literals})'
        found: set[UUID] = set()
        size = len(wanted)
        for page in range(_SEARCH_PAGES):
            query = {"sql": sql, "start_time": start_us, "end_time": end_us, "from": page * size, "size": size}
            raw = await self._post(self._search_url, {"query": query}, params={"type": "logs"})
            try:
                hits = msgspec.json.decode(raw, type=_SearchAnswer).hits
            except msgspec.MsgspecError:
                raise ShipFailed("unreadable search answer", 200) from None
            for hit in hits:
                try:
                    found.add(UUID(str(hit.get("event_id"))))
                except ValueError:
                    continue
            if len(hits) < size or wanted <= found:
                break
        return found & wanted


def client_from_settings(settings: Settings, http: httpx.AsyncClient) -> OpenObserve | None:
    """The configured OpenObserve, or None without OPENOBSERVE_URL (events then stay in PostgreSQL only)."""
    if not settings.openobserve_url:
        return None
    register_secret(settings.openobserve_password)
    return OpenObserve(http, settings.openobserve_url, settings.openobserve_org, settings.openobserve_stream,
                       settings.openobserve_user, settings.openobserve_password, settings.audit_ship_timeout)
