"""A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import time
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.processes import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None

    def part(self, subtype: str) -> str:
        return self.message.get_body((subtype,)).get_content()


class MailServer:
    """`login`/`password` given: AUTH is required (over plain SMTP, as a local relay would allow)."""

    def __init__(self, login: str | None = None, password: str | None = None) -> None:
        self.received: list[Received] = []
        self.port = free_port()
        kwargs = {}
        if login is not None:
            kwargs = dict(authenticator=self._authenticate, auth_required=True, auth_require_tls=False)
        self._credentials = (login, password)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == \
            self._credentials
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        auth = session.auth_data
        login = auth.login.decode() if session.authenticated and isinstance(auth, LoginPassword) else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 Message accepted for delivery"

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 15, linger: float = 0.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(linger)
        return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [item for item in self.received if address in item.rcpt_tos]

    def wait_to(self, address: str, timeout: float = 15) -> list[Received]:
        """The messages to `address`, once there is one (or time is up)."""
        deadline = time.monotonic() + timeout
        while not self.to(address) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.to(address)
