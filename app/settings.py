"""Process settings: read from the environment once, typed, and passed around as one value."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, frozen=True):
    master_key: str | None
    database_url: str
    redis_url: str
    secret_key: str | None
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 4000
    max_body_bytes: int = 8 * 1024 * 1024
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 600.0
    auth_cache_ttl: float = 300.0
    usage_flush_interval: float = 0.05
    usage_flush_max_records: int = 500
    log_level: str = "info"
    sentry_dsn: str | None = None
    proxy_base_url: str | None = None
    worker_health_interval: int = 5
    usage_job_timeout: int = 60
    limits_fail_open: bool = False
    health_check_interval: int = 30
    limits_redis_url: str | None = None
    limits_redis_timeout: float = 0.5


def _env(name: str, *aliases: str, default: str | None = None) -> str | None:
    for key in (name, *aliases):
        value = os.environ.get(key)
        if value:
            return value
    return default


@functools.cache
def get_settings() -> Settings:
    """Settings of this process; `alchemi up` fills DATABASE_URL / REDIS_URL for the processes it starts."""
    data_dir = Path(_env("ALCHEMI_DATA_DIR", default=".alchemi")).resolve()
    master_key = _env("ALCHEMI_MASTER_KEY", "LITELLM_MASTER_KEY")
    secret_key = _env("ALCHEMI_SECRET_KEY", "LITELLM_SALT_KEY") or master_key
    database_url = _env("DATABASE_URL")
    redis_url = _env("REDIS_URL")
    if not database_url or not redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (`alchemi up` starts embedded ones when they are not)")
    return Settings(
        master_key=master_key,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secret_key,
        data_dir=data_dir,
        host=_env("HOST", default="127.0.0.1"),
        port=int(_env("PORT", default="4000")),
        max_body_bytes=int(_env("ALCHEMI_MAX_BODY_BYTES", default=str(8 * 1024 * 1024))),
        upstream_connect_timeout=float(_env("ALCHEMI_UPSTREAM_CONNECT_TIMEOUT", default="5")),
        upstream_read_timeout=float(_env("ALCHEMI_UPSTREAM_READ_TIMEOUT", default="600")),
        auth_cache_ttl=float(_env("ALCHEMI_AUTH_CACHE_TTL", default="300")),
        log_level=_env("LOG_LEVEL", default="info").lower(),
        sentry_dsn=_env("SENTRY_DSN"),
        proxy_base_url=_env("PROXY_BASE_URL"),
        worker_health_interval=int(_env("ALCHEMI_WORKER_HEALTH_INTERVAL", default="5")),
        usage_job_timeout=int(_env("ALCHEMI_USAGE_JOB_TIMEOUT", default="60")),
        usage_flush_interval=float(_env("ALCHEMI_USAGE_FLUSH_INTERVAL", default="0.05")),
        limits_fail_open=_env("ALCHEMI_LIMITS_FAIL_OPEN", default="false").lower() in ("1", "true", "yes"),
        limits_redis_timeout=float(_env("ALCHEMI_LIMITS_REDIS_TIMEOUT", default="0.5")),
        limits_redis_url=_env("ALCHEMI_LIMITS_REDIS_URL"),
        health_check_interval=int(_env("ALCHEMI_HEALTH_CHECK_INTERVAL", default="30")),
    )
