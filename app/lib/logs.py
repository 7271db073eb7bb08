"""Structured JSON logs, with every key-shaped string redacted before it is written."""

from __future__ import annotations

import logging
import re
import sys
import time

import msgspec

_KEY_SHAPED = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}")
_encode = msgspec.json.Encoder().encode
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Make sure this exact value (master key, a decrypted provider key...) never reaches a log line."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return _KEY_SHAPED.sub(lambda m: m.group(1) + "-[redacted]", text)


class JsonFormatter(logging.Formatter):
    _reserved = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._reserved and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(_encode(entry).decode())


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
    # One line per request belongs to the audit/metrics pipeline, not to the hot path's log.
    logging.getLogger("uvicorn.access").setLevel(logging.DEBUG if level.lower() == "debug" else logging.WARNING)
    # arq logs two lines per job at INFO; usage jobs run many times a second.
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    logging.getLogger("arq.jobs").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
