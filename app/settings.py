"""Process settings: read from the environment once, typed, and passed around as one value."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, frozen=True):
    master_key: str | None
    database_url: str  # the owner: migrations, `rebuild-rollups`
    redis_url: str
    secret_key: str | None
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 4000
    max_body_bytes: int = 8 * 1024 * 1024
    upstream_connect_timeout: float = 5.0
    upstream_read_timeout: float = 600.0
    auth_cache_ttl: float = 300.0
    usage_flush_interval: float = 0.25
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
    zitadel_webhook_signing_key: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender_email: str | None = None
    smtp_tls: str = "starttls"  # starttls | ssl | none
    email_mode: str = "central"  # central | tenant_first
    email_logo_url: str | None = None
    email_support_contact: str | None = None
    invitation_ttl_hours: int = 7 * 24
    ui_username: str | None = None
    ui_password: str | None = None
    super_admin_emails: frozenset[str] = frozenset()
    zitadel_issuer_url: str | None = None
    zitadel_client_id: str | None = None
    zitadel_client_secret: str | None = None
    zitadel_callback_url: str | None = None
    session_ttl: int = 8 * 3600
    # The API and workers connect as the application role (no BYPASSRLS, owns nothing). Unset: they use
    # DATABASE_URL, and row-level security no longer guards them unless that role is subject to it.
    app_database_url: str = ""
    # Audit trail: shipping to OpenObserve (workers; unset URL: events stay in PostgreSQL only) and retention.
    openobserve_url: str | None = None
    openobserve_org: str = "default"
    openobserve_stream: str = "alchemi_audit"
    openobserve_user: str | None = None
    openobserve_password: str | None = None
    audit_log_retention_days: int = 90  # 0: keep forever
    audit_ship_interval: int = 5
    audit_ship_batch_size: int = 500
    audit_ship_timeout: float = 10.0
    audit_ship_max_backoff: float = 300.0


def _env(name: str, *aliases: str, default: str | None = None) -> str | None:
    for key in (name, *aliases):
        value = os.environ.get(key)
        if value:
            return value
    return default


def _smtp_tls(value: str) -> str:
    """SMTP_TLS: true/starttls (the default), ssl (implicit TLS, port 465), or false/none (plain, for local relays)."""
    mode = {"true": "starttls", "1": "starttls", "yes": "starttls", "starttls": "starttls", "ssl": "ssl",
            "tls": "ssl", "implicit": "ssl", "false": "none", "0": "none", "no": "none", "none": "none"}.get(value.lower())
    if mode is None:
        raise RuntimeError("SMTP_TLS must be true (STARTTLS), ssl or false")
    return mode


def _email_mode(value: str) -> str:
    if value not in ("central", "tenant_first"):
        raise RuntimeError("EMAIL_MODE must be 'central' or 'tenant_first'")
    return value


def _at_least(name: str, default: str, lowest: int) -> int:
    value = int(_env(name, default=default) or default)
    if value < lowest:
        raise RuntimeError(f"{name} must be at least {lowest}")
    return value


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
        app_database_url=_env("ALCHEMI_APP_DATABASE_URL") or database_url,
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
        usage_flush_interval=float(_env("ALCHEMI_USAGE_FLUSH_INTERVAL", default="0.25")),
        limits_fail_open=_env("ALCHEMI_LIMITS_FAIL_OPEN", default="false").lower() in ("1", "true", "yes"),
        limits_redis_timeout=float(_env("ALCHEMI_LIMITS_REDIS_TIMEOUT", default="0.5")),
        limits_redis_url=_env("ALCHEMI_LIMITS_REDIS_URL"),
        health_check_interval=int(_env("ALCHEMI_HEALTH_CHECK_INTERVAL", default="30")),
        zitadel_webhook_signing_key=_env("ZITADEL_WEBHOOK_SIGNING_KEY"),
        smtp_host=_env("SMTP_HOST"),
        smtp_port=int(_env("SMTP_PORT", default="587")),
        smtp_username=_env("SMTP_USERNAME"),
        smtp_password=_env("SMTP_PASSWORD"),
        smtp_sender_email=_env("SMTP_SENDER_EMAIL"),
        smtp_tls=_smtp_tls(_env("SMTP_TLS", default="true")),
        email_mode=_email_mode(_env("EMAIL_MODE", default="central").lower()),
        email_logo_url=_env("EMAIL_LOGO_URL"),
        email_support_contact=_env("EMAIL_SUPPORT_CONTACT"),
        invitation_ttl_hours=int(_env("ALCHEMI_INVITATION_TTL_HOURS", default=str(7 * 24))),
        ui_username=_env("UI_USERNAME"),
        ui_password=_env("UI_PASSWORD"),
        super_admin_emails=frozenset(
            e.strip().lower() for e in (_env("SUPER_ADMIN_EMAILS", default="") or "").split(",") if e.strip()),
        zitadel_issuer_url=_env("ZITADEL_ISSUER_URL"),
        zitadel_client_id=_env("ZITADEL_CLIENT_ID"),
        zitadel_client_secret=_env("ZITADEL_CLIENT_SECRET"),
        zitadel_callback_url=_env("ZITADEL_CALLBACK_URL"),
        # Console sessions live at most 8 hours, whatever is configured.
        session_ttl=min(int(_env("ALCHEMI_SESSION_TTL", default=str(8 * 3600))), 8 * 3600),
        openobserve_url=_env("OPENOBSERVE_URL"),
        openobserve_org=_env("OPENOBSERVE_ORG", default="default"),
        openobserve_stream=_env("OPENOBSERVE_STREAM", default="alchemi_audit"),
        openobserve_user=_env("OPENOBSERVE_USER"),
        openobserve_password=_env("OPENOBSERVE_PASSWORD"),
        audit_log_retention_days=_at_least("ALCHEMI_AUDIT_LOG_RETENTION_DAYS", "90", 0),
        audit_ship_interval=_at_least("ALCHEMI_AUDIT_SHIP_INTERVAL", "5", 1),
        audit_ship_batch_size=min(_at_least("ALCHEMI_AUDIT_SHIP_BATCH_SIZE", "500", 1), 1000),
        audit_ship_timeout=float(_env("ALCHEMI_AUDIT_SHIP_TIMEOUT", default="10")),
        audit_ship_max_backoff=float(_env("ALCHEMI_AUDIT_SHIP_MAX_BACKOFF", default="300")),
    )
