"""Handing a message to an SMTP server (aiosmtplib). The envelope recipient is given explicitly:
it never comes from the message's headers."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib

from app.mail.servers import SmtpServer

TIMEOUT_S = 20.0
# What a failed delivery can raise: SMTP refusals, connection trouble, a timeout.
DELIVERY_ERRORS = (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)


async def deliver(server: SmtpServer, message: EmailMessage, recipient: str) -> None:
    await aiosmtplib.send(
        message, sender=server.sender_email, recipients=[recipient], hostname=server.host, port=server.port,
        username=server.username, password=server.password, use_tls=server.tls == "ssl",
        start_tls=server.tls == "starttls", timeout=TIMEOUT_S,
    )
