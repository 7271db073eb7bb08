"""A stand-in for OpenObserve: a real HTTP server on 127.0.0.1 with OpenObserve's ingestion and search paths
and answer shapes, plus switches for the failures the audit shipping must survive.

    POST /api/{org}/{stream}/_json    a JSON array of records
    POST /api/{org}/{stream}/_multi   one JSON record per line
    POST /api/{org}/_bulk             Elasticsearch bulk NDJSON ({"index": {"_index": stream}} + record lines)
      → 200 {"code": 200, "status": [{"name": stream, "successful": n, "failed": m, "error"?: "..."}]}
        (_bulk: {"took", "errors", "items": [{"index": {"_index", "status", "error"?}}]}) — 200 even when
        records were refused
    POST /api/{org}/_search           {"query": {"sql", "start_time", "end_time", "from", "size"}} (µs)
      → 200 {"took", "hits": [...], "total", "from", "size", "scan_size"}
Every path needs HTTP basic auth (401 otherwise). Records are stored the way OpenObserve stores them: keys
lower-cased with other characters as `_`, nested objects flattened with `_`, arrays as JSON text,
`_timestamp` in µs (added when missing; records older than `ingest_allowed_upto_hours` are refused with
OpenObserve's words). Search understands the SQL the gateway sends:
`SELECT <columns | *> FROM "<stream>" [WHERE <column> IN ('a', ...) | WHERE <column> = 'a']`.

Failure switches (`FakeOpenObserve`): `reject` (a predicate: those records are refused in a 200),
`fail_next(n, status)` (ingestion answers 5xx/429 n times), `fail_searches(n)`, `hang(seconds, store=...)`
(answer after the client gave up, having stored the records or not), `stop()` / `restart()` (an outage:
connection refused), and `down` (503 from everything, like a load balancer with no backend).
Run alone: `python -m tests.fakes.openobserve --port 5080 --user root@example.com --password secret`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from tests.fakes.asgi import Recorded, lifespan, read_request, send_json
from tests.fakes.threaded_server import ThreadedServer

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_INGEST = re.compile(r"^/api/(?P<org>[^/]+)/(?P<stream>[^/]+)/_(?P<kind>json|multi)$")
_BULK = re.compile(r"^/api/(?P<org>[^/]+)/_bulk$")
_SEARCH = re.compile(r"^/api/(?P<org>[^/]+)/_search$")
_SQL = re.compile(
    r"""^\s*SELECT\s+(?P<columns>\*|[\w\s,]+?)\s+FROM\s+"(?P<stream>(?:[^"]|"")+)"\s*"""
    r"""(?:WHERE\s+(?P<column>\w+)\s*(?:IN\s*\((?P<values>[^)]*)\)|=\s*(?P<value>'(?:[^']|'')*'))\s*)?;?\s*$""",
    re.IGNORECASE)
_LITERAL = re.compile(r"'((?:[^']|'')*)'")
TOO_OLD = ("Too old data, only last {hours} hours data can be ingested. Data discarded. You can adjust ingestion "
           "max time by setting the environment variable ZO_INGEST_ALLOWED_UPTO=<max_hours>")


def format_key(key: str) -> str:
    """OpenObserve's field names: lower case, anything but letters, digits and `_` becomes `_`."""
    return re.sub(r"[^a-z0-9_]", "_", key.lower())


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}_{format_key(key)}" if prefix else format_key(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        elif isinstance(value, list):
            flat[name] = _encode(value).decode()
        else:
            flat[name] = value
    return flat


def timestamp_us(value: Any) -> int | None:
    """OpenObserve reads _timestamp as seconds, ms, µs or ns by magnitude, or as RFC 3339 text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = int(value)
        if number > 10**17:
            return number // 1000
        if number > 10**14:
            return number
        if number > 10**11:
            return number * 1000
        return number * 1_000_000
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1_000_000)
        except ValueError:
            return None
    return None


@dataclass
class OpenObserveState:
    user: str
    password: str
    ingest_allowed_upto_hours: int = 5
    streams: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    reject: Callable[[dict[str, Any]], str | None] | None = None  # flattened record → why it is refused
    failures: list[int] = field(default_factory=list)  # statuses the next ingest requests answer
    search_failures: int = 0
    hang_s: float = 0.0
    hang_requests: int = 0  # how many ingest requests hang (answer after hang_s)
    hang_stores: bool = True  # a hung request stores its records before answering late
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class OpenObserveApp:
    def __init__(self, state: OpenObserveState) -> None:
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        request = await read_request(scope, receive)
        state = self.state
        with state.lock:
            state.requests.append(request)
        if state.down:
            await send_json(send, 503, {"code": 503, "message": "Service Unavailable"})
            return
        if not self._authorized(request.headers.get("authorization", "")):
            await send_json(send, 401, {"code": 401, "message": "Unauthorized Access"})
            return
        if request.method != "POST":
            await send_json(send, 405, {"code": 405, "message": "Method Not Allowed"})
            return
        if match := _SEARCH.match(request.path):
            await self._search(send, match["org"], request)
        elif match := _INGEST.match(request.path):
            await self._ingest(send, match["org"], match["stream"], match["kind"], request)
        elif match := _BULK.match(request.path):
            await self._bulk(send, match["org"], request)
        else:
            await send_json(send, 404, {"code": 404, "message": "Not Found"})

    def _authorized(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.state.user}:{self.state.password}".encode()).decode()
        return header == f"Basic {expected}"

    async def _before_ingest(self, send) -> tuple[bool, bool]:
        """(answered already, hang after storing): the failure switches of ingestion."""
        state = self.state
        with state.lock:
            status = state.failures.pop(0) if state.failures else None
            hang = state.hang_requests > 0
            if hang:
                state.hang_requests -= 1
        if status is not None:
            await send_json(send, status, {"code": status, "message": "Internal Server Error" if status >= 500
                                           else "Too Many Requests"})
            return True, False
        if hang and not state.hang_stores:
            await asyncio.sleep(state.hang_s)  # the client gave up long ago; nothing was stored
            await send_json(send, 503, {"code": 503, "message": "timeout"})
            return True, False
        return False, hang

    def _store(self, org: str, stream: str, records: list[Any]) -> tuple[int, int, str | None]:
        state = self.state
        now_us = int(time.time() * 1_000_000)
        oldest_us = now_us - state.ingest_allowed_upto_hours * 3600 * 1_000_000
        successful = failed = 0
        error = None
        for record in records:
            if not isinstance(record, dict):
                failed += 1
                error = error or "Invalid JSON record: not an object"
                continue
            flat = flatten(record)
            stamp = timestamp_us(flat.get("_timestamp", now_us))
            reason = None
            if stamp is None:
                reason = "Invalid _timestamp"
            elif stamp < oldest_us:
                reason = TOO_OLD.format(hours=state.ingest_allowed_upto_hours)
            elif state.reject is not None:
                reason = state.reject(flat)
            if reason:
                failed += 1
                error = error or reason
                continue
            flat["_timestamp"] = stamp
            with state.lock:
                state.streams.setdefault((org, format_key(stream)), []).append(flat)
            successful += 1
        return successful, failed, error

    async def _ingest(self, send, org: str, stream: str, kind: str, request: Recorded) -> None:
        answered, hang = await self._before_ingest(send)
        if answered:
            return
        if kind == "json":
            records = request.body
            if not isinstance(records, list):
                await send_json(send, 400, {"code": 400, "message": "Invalid json: expected an array of records"})
                return
        else:
            try:
                records = [_decode(line) for line in request.raw_body.splitlines() if line.strip()]
            except msgspec.DecodeError:
                await send_json(send, 400, {"code": 400, "message": "Invalid json"})
                return
        successful, failed, error = self._store(org, stream, records)
        status: dict[str, Any] = {"name": format_key(stream), "successful": successful, "failed": failed}
        if error:
            status["error"] = error
        if hang:
            await asyncio.sleep(self.state.hang_s)
        await send_json(send, 200, {"code": 200, "status": [status]})

    async def _bulk(self, send, org: str, request: Recorded) -> None:
        answered, hang = await self._before_ingest(send)
        if answered:
            return
        items, errors, started = [], False, time.monotonic()
        try:
            lines = [_decode(line) for line in request.raw_body.splitlines() if line.strip()]
        except msgspec.DecodeError:
            await send_json(send, 400, {"code": 400, "message": "Invalid json"})
            return
        for action, record in zip(lines[::2], lines[1::2]):
            verb = next(iter(action), "index")
            stream = (action.get(verb) or {}).get("_index", "default")
            successful, _, error = self._store(org, stream, [record])
            item: dict[str, Any] = {"_index": stream, "status": 200 if successful else 400}
            if not successful:
                errors = True
                item["error"] = {"type": "mapper_parsing_exception", "reason": error}
            items.append({verb: item})
        if hang:
            await asyncio.sleep(self.state.hang_s)
        await send_json(send, 200, {"took": int((time.monotonic() - started) * 1000), "errors": errors,
                                    "items": items})

    async def _search(self, send, org: str, request: Recorded) -> None:
        state = self.state
        with state.lock:
            failing = state.search_failures > 0
            if failing:
                state.search_failures -= 1
        if failing:
            await send_json(send, 500, {"code": 500, "message": "Search failed"})
            return
        query = (request.body or {}).get("query") if isinstance(request.body, dict) else None
        match = _SQL.match(str((query or {}).get("sql", "")))
        if not isinstance(query, dict) or match is None:
            await send_json(send, 400, {"code": 400, "message": "Search SQL not understood"})
            return
        stream = format_key(match["stream"].replace('""', '"'))
        with state.lock:
            records = list(state.streams.get((org, stream), ())) if (org, stream) in state.streams else None
        if records is None:
            await send_json(send, 404, {"code": 404, "message": f"Search stream not found: {stream}"})
            return
        start, end = int(query.get("start_time", 0)), int(query.get("end_time", 2**62))
        hits = [r for r in records if start <= r["_timestamp"] < end]
        if match["column"]:
            wanted = {v.replace("''", "'") for v in _LITERAL.findall(match["values"] or match["value"] or "")}
            hits = [r for r in hits if str(r.get(match["column"].lower())) in wanted]
        hits.sort(key=lambda r: r["_timestamp"], reverse=True)
        if match["columns"].strip() != "*":
            columns = [c.strip().lower() for c in match["columns"].split(",")]
            hits = [{c: r[c] for c in columns if c in r} for r in hits]
        offset, size = int(query.get("from", 0)), int(query.get("size", 100))
        page = hits[offset:offset + size] if size >= 0 else hits[offset:]
        await send_json(send, 200, {"took": 1, "hits": page, "total": len(hits), "from": offset, "size": size,
                                    "scan_size": 0})


class FakeOpenObserve(ThreadedServer):
    """`with FakeOpenObserve(user, password) as o2: o2.url` — the OPENOBSERVE_URL to configure."""

    def __init__(self, user: str = "root@example.com", password: str = "Complexpass#123", *, port: int = 0) -> None:
        self.state = OpenObserveState(user=user, password=password)
        super().__init__(OpenObserveApp(self.state), "openobserve", port=port)

    def records(self, stream: str = "alchemi_audit", org: str = "default") -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.streams.get((org, stream), ()))

    def ingest_requests(self) -> list[Recorded]:
        with self.state.lock:
            return [r for r in self.state.requests if _INGEST.match(r.path) or _BULK.match(r.path)]

    def search_requests(self) -> list[Recorded]:
        with self.state.lock:
            return [r for r in self.state.requests if _SEARCH.match(r.path)]

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.state.lock:
            self.state.failures.extend([status] * count)

    def fail_searches(self, count: int) -> None:
        with self.state.lock:
            self.state.search_failures += count

    def hang(self, seconds: float, *, requests: int = 1, store: bool = True) -> None:
        with self.state.lock:
            self.state.hang_s, self.state.hang_requests, self.state.hang_stores = seconds, requests, store

    def restart(self) -> None:
        """Back after an outage, on the same port and with the same data."""
        self._bind_port = self.port
        self.start()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5080)
    parser.add_argument("--user", default="root@example.com")
    parser.add_argument("--password", default="Complexpass#123")
    args = parser.parse_args()
    state = OpenObserveState(user=args.user, password=args.password)
    uvicorn.run(OpenObserveApp(state), host=args.host, port=args.port, log_level="warning", access_log=False,
                lifespan="off")


if __name__ == "__main__":
    main()
