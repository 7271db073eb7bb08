"""Structured JSON logs: every line names its request and account when known, and every key-shaped
string or registered secret is redacted before it is written. `log_access` is the one access log."""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

import msgspec

from app.lib.request_context import request_id
from app.tenancy.context import current_account

_KEY_SHAPED = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}")
_encode = msgspec.json.Encoder().encode
_extra_secrets: set[str] = set()
# Jobs act for an account without making it the tenancy context (that stays the job's own business). A box,
# so that a job's task can name its account to the worker task that started it (and logs its failure).
_log_account: ContextVar[list[str | None] | None] = ContextVar("alchemi_log_account", default=None)
access_log = logging.getLogger("alchemi.access")


def register_secret(value: str | None) -> None:
    """Make sure this exact value (master key, a decrypted provider key...) never reaches a log line."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return _KEY_SHAPED.sub(lambda m: m.group(1) + "-[redacted]", text)


def new_log_scope() -> None:
    """A fresh scope for `set_log_account`, shared with the tasks started from here on (a worker's job)."""
    _log_account.set([None])


def set_log_account(account_id: Any) -> None:
    """Name the account that the log lines of this scope are about (worker jobs that serve one account)."""
    value = str(account_id) if account_id else None
    box = _log_account.get()
    if box is None:
        _log_account.set([value])
    else:
        box[0] = value


def log_account() -> str | None:
    box = _log_account.get()
    return box[0] if box else None


class JsonFormatter(logging.Formatter):
    _reserved = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ident = request_id()
        if ident is not None:
            entry["request_id"] = ident
        account = current_account() or log_account()
        if account is not None:
            entry["account_id"] = str(account)
        for key, value in vars(record).items():
            if key not in self._reserved and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(_encode(entry).decode())


def log_access(scope: dict, status: int, seconds: float) -> None:
    """The access log (RequestContextMiddleware's `on_end`): an INFO line per request to a route that does not
    opt out (`opt={"access_log": False}`: the data plane and health checks, whose volume belongs to metrics),
    and an ERROR line for every 5xx answer on any route. Method, route template (never the raw path, which may
    carry ids), status and duration only."""
    if status >= 500 or _wants_access_line(scope):
        fields = {"method": scope["method"], "route": scope.get("path_template") or "(unrouted)",
                  "status": status, "duration_ms": round(seconds * 1000, 2)}
        if status >= 500:
            access_log.error("request failed", extra=fields)
        else:
            access_log.info("request", extra=fields)


def _wants_access_line(scope: dict) -> bool:
    handler = scope.get("route_handler")
    return (handler is None or handler.opt.get("access_log", True)) and access_log.isEnabledFor(logging.INFO)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker", "arq.jobs"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # authlib's OAuth client (console sign-in)
    # log_access (above) writes the access lines, with request and account ids; uvicorn's would repeat them.
    logging.getLogger("uvicorn.access").setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
    # arq logs two lines per job at INFO; usage jobs run many times a second.
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    logging.getLogger("arq.jobs").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
