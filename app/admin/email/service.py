"""The account's own SMTP server, stored in accounts.smtp_config with its password sealed (CredentialBox).

The workers use it when EMAIL_MODE=tenant_first (app/mail/servers.py); it is only ever read back
without the password. Changes are audited (the diff redacts the sealed password by its name)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec

from app.admin import fields
from app.admin.email.schemas import SmtpSettings, SmtpSettingsUpdate
from app.audit.record import audited_change
from app.db.tables import Account
from app.lib.errors import InvalidRequest, NotFound
from app.mail.servers import TLS_MODES
from app.runtime import runtime
from app.tenancy.context import require_account


def _view(config: dict[str, Any]) -> SmtpSettings:
    if not config.get("host"):
        return SmtpSettings(configured=False)
    return SmtpSettings(configured=True, host=config["host"], port=config.get("port"), username=config.get("username"),
                        sender_email=config.get("sender_email"), tls=config.get("tls"),
                        password_set=bool(config.get("password")))


async def _stored() -> dict[str, Any]:
    row = await Account.select(Account.smtp_config).where(
        (Account.id == require_account()) & Account.deleted_at.is_null()).output(load_json=True).first()
    if row is None:
        raise NotFound("No such account", code="account_not_found")
    return row["smtp_config"] if isinstance(row["smtp_config"], dict) else {}


async def _store(action: str, before: dict[str, Any], config: dict[str, Any]) -> None:
    account_id = require_account()
    async with audited_change(action, "smtp_settings", account_id, before=before) as change:
        await Account.update({Account.smtp_config: config, Account.updated_at: datetime.now(timezone.utc)}).where(
            Account.id == account_id)
        change.after = config


def _host(value: str) -> str:
    host = value.strip()
    if not host or len(host) > 253 or any(not c.isprintable() or c.isspace() or c in "/@" for c in host):
        raise InvalidRequest("'host' must be a host name or IP address", param="host")
    return host


async def show() -> SmtpSettings:
    return _view(await _stored())


async def update(data: SmtpSettingsUpdate) -> SmtpSettings:
    if not 1 <= data.port <= 65535:
        raise InvalidRequest("'port' must be between 1 and 65535", param="port")
    if data.tls not in TLS_MODES:
        raise InvalidRequest(f"'tls' must be one of: {', '.join(TLS_MODES)}", param="tls")
    username = data.username.strip() if data.username else None
    if username and any(not c.isprintable() for c in username):
        raise InvalidRequest("'username' holds control characters", param="username")
    stored = await _stored()
    config: dict[str, Any] = {"host": _host(data.host), "port": data.port, "username": username,
                              "sender_email": fields.email(data.sender_email, "sender_email"), "tls": data.tls}
    if data.password is msgspec.UNSET:
        # The stored password only ever goes back to the server it was given for.
        if stored.get("password") and (stored.get("host"), stored.get("username")) != (config["host"], username):
            raise InvalidRequest("Send the password again when the host or username changes", param="password")
        config["password"] = stored.get("password")
    elif data.password:
        config["password"] = runtime().credentials.seal(data.password)
    await _store("smtp_settings.updated", stored, config)
    return _view(config)


async def remove() -> SmtpSettings:
    await _store("smtp_settings.deleted", await _stored(), {})
    return SmtpSettings(configured=False)
