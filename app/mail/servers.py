"""Which SMTP server sends an account's email.

    EMAIL_MODE=central       the global server (SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD,
                             SMTP_SENDER_EMAIL, SMTP_TLS)
    EMAIL_MODE=tenant_first  the account's own server (accounts.smtp_config, set with PUT /email/smtp),
                             then the global one if the account's fails or has none
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.lib.crypto import CredentialBox
from app.lib.logs import register_secret
from app.settings import Settings

TLS_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sender_email: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "starttls"  # starttls | ssl (implicit TLS) | none


def central_server(settings: Settings) -> SmtpServer | None:
    if not settings.smtp_host or not settings.smtp_sender_email:
        return None
    register_secret(settings.smtp_password)
    return SmtpServer(host=settings.smtp_host, port=settings.smtp_port, sender_email=settings.smtp_sender_email,
                      username=settings.smtp_username, password=settings.smtp_password, tls=settings.smtp_tls)


def tenant_server(config: dict[str, Any] | None, credentials: CredentialBox | None) -> SmtpServer | None:
    """The account's own server; None when it has none (or its password cannot be opened here)."""
    if not config or not config.get("host") or not config.get("sender_email"):
        return None
    password = None
    if config.get("password"):
        if credentials is None:
            return None
        try:
            password = credentials.open(config["password"])
        except ValueError:
            return None
        register_secret(password)
    return SmtpServer(host=config["host"], port=int(config.get("port") or 587), sender_email=config["sender_email"],
                      username=config.get("username") or None, password=password,
                      tls=config.get("tls") if config.get("tls") in TLS_MODES else "starttls")


def servers_for(settings: Settings, account_smtp: dict[str, Any] | None,
                credentials: CredentialBox | None) -> list[tuple[str, SmtpServer]]:
    """The servers to try, in order, each with its label (`tenant` | `central`)."""
    servers: list[tuple[str, SmtpServer]] = []
    if settings.email_mode == "tenant_first":
        own = tenant_server(account_smtp, credentials)
        if own is not None:
            servers.append(("tenant", own))
    central = central_server(settings)
    if central is not None:
        servers.append(("central", central))
    return servers
