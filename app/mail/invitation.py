"""The invitation email: a plain-text part and an HTML part with the same content."""

from __future__ import annotations

import html
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage

import msgspec

PRODUCT = "Alchemi Studio Console"


class InvitationMail(msgspec.Struct, frozen=True):
    sender_email: str
    recipient: str
    account_name: str
    role: str
    link: str
    expires_at: datetime
    inviter: str | None = None
    logo_url: str | None = None
    support_contact: str | None = None


def _line(text: str) -> str:
    """One line of text from data (names come from admins and IdPs): no control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _support_html(contact: str) -> str:
    if "@" in contact and " " not in contact:
        return f'<a href="mailto:{html.escape(contact, quote=True)}">{html.escape(contact)}</a>'
    if contact.startswith(("https://", "http://")):
        return f'<a href="{html.escape(contact, quote=True)}">{html.escape(contact)}</a>'
    return html.escape(contact)


def _text(mail: InvitationMail, account: str, who: str, role: str, expires: str) -> str:
    lines = [
        "Hello,",
        "",
        f"{who} invited you to join {account} on {PRODUCT} as {role}.",
        "",
        "Accept the invitation:",
        mail.link,
        "",
        f"The link works once and expires on {expires}. If you did not expect this invitation, ignore this email.",
    ]
    if mail.support_contact:
        lines += ["", f"Questions? Contact {_line(mail.support_contact)}."]
    return "\n".join(lines) + "\n"


def _html(mail: InvitationMail, account: str, who: str, role: str, expires: str) -> str:
    logo = (f'<p><img src="{html.escape(mail.logo_url, quote=True)}" alt="{PRODUCT}" height="40"></p>'
            if mail.logo_url else "")
    support = f"<p>Questions? Contact {_support_html(_line(mail.support_contact))}.</p>" if mail.support_contact else ""
    link = html.escape(mail.link, quote=True)
    return (
        f'<!DOCTYPE html><html><body style="font-family: sans-serif">{logo}'
        f"<p>Hello,</p>"
        f"<p>{html.escape(who)} invited you to join <strong>{html.escape(account)}</strong> on {PRODUCT} "
        f"as {html.escape(role)}.</p>"
        f'<p><a href="{link}">Accept the invitation</a></p>'
        f"<p>The link works once and expires on {html.escape(expires)}. If you did not expect this invitation, "
        f"ignore this email.</p>{support}</body></html>"
    )


def invitation_message(mail: InvitationMail) -> EmailMessage:
    account = _line(mail.account_name) or "an account"
    who = _line(mail.inviter) if mail.inviter else f"An administrator of {account}"
    role = _line(mail.role).replace("_", " ")
    expires = mail.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    message = EmailMessage()
    message["Subject"] = f"You are invited to {account} on {PRODUCT}"
    # Address() refuses anything that is not one plain address: no second recipient, no header smuggling.
    message["From"] = Address(display_name=PRODUCT, addr_spec=mail.sender_email)
    message["To"] = Address(addr_spec=mail.recipient)
    message.set_content(_text(mail, account, who, role, expires))
    message.add_alternative(_html(mail, account, who, role, expires), subtype="html")
    return message
