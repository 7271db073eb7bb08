"""Request and response shapes of /email/smtp. The password goes in and never comes out."""

from __future__ import annotations

import msgspec


class SmtpSettingsUpdate(msgspec.Struct):
    host: str
    sender_email: str
    port: int = 587
    username: str | None = None
    # Omitted: keep the stored password; null: remove it.
    password: str | None | msgspec.UnsetType = msgspec.UNSET
    tls: str = "starttls"  # starttls | ssl | none


class SmtpSettings(msgspec.Struct):
    configured: bool
    host: str | None = None
    port: int | None = None
    username: str | None = None
    sender_email: str | None = None
    tls: str | None = None
    password_set: bool = False
