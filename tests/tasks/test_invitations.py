"""Invitations end to end: POST /invitation/new → the worker's send_invitation_email job → a real SMTP
server (aiosmtpd on 127.0.0.1) → the link's token → GET (no side effects) → POST accept (once).

The API and worker of this module run on a Redis database of their own, so no other worker of the
suite (configured without SMTP) can take their jobs; they share the suite's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from app.lib.jobs import create_job_pool
from tests.conftest import MASTER_KEY
from tests.support.api import AdminClient
from tests.support.smtp import MailServer

PROXY = "https://console.alchemi.test"
LOGO = "https://cdn.alchemi.test/logo.png"
SUPPORT = "support@alchemi.test"
SENDER = "noreply@alchemi.test"
TENANT_LOGIN, TENANT_PASSWORD = "acme-relay", "tenant-smtp-" + uuid.uuid4().hex
LINK = re.compile(re.escape(PROXY) + r"/invitation/accept\?token=([A-Za-z0-9_-]+)")
# The tenant's relay takes AUTH over plain SMTP on purpose (127.0.0.1); aiosmtpd warns about it per connection.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _other_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        query["db"] = str(db)
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{db}"))


class MailStack:
    def __init__(self, cluster, redis_url: str) -> None:
        self.cluster = cluster
        self.redis_url = redis_url
        self.central = MailServer().start()
        self.tenant = MailServer(TENANT_LOGIN, TENANT_PASSWORD).start()
        self.api = cluster.start_api(extra_env={"REDIS_URL": redis_url})
        self.admin = AdminClient(self.api.url, MASTER_KEY)
        self.worker = None
        self.mode = None

    def use_worker(self, mode: str) -> None:
        if self.mode == mode:
            return
        if self.worker is not None:
            self.worker.stop()
        self.worker = self.cluster.start_worker(extra_env={
            "REDIS_URL": self.redis_url, "EMAIL_MODE": mode, "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.central.port), "SMTP_TLS": "false", "SMTP_SENDER_EMAIL": SENDER,
            "EMAIL_LOGO_URL": LOGO, "EMAIL_SUPPORT_CONTACT": SUPPORT, "PROXY_BASE_URL": PROXY,
        })
        self.mode = mode

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.api.stop()
        self.central.stop()
        self.tenant.stop()


@pytest.fixture(scope="module")
def mail(cluster, services):
    stack = MailStack(cluster, _other_redis_db(services.redis_url, 9))
    stack.use_worker("tenant_first")
    yield stack
    stack.stop()


def _address(tag: str = "invitee") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def _invite(mail: MailStack, account_id: str, address: str, **fields) -> dict:
    return mail.admin.ok("POST", "/invitation/new", account_id, json={"user_email": address, **fields})


def _token(received) -> str:
    match = LINK.search(received.part("plain"))
    assert match, received.part("plain")
    return match.group(1)


def _open(mail: MailStack, token: str) -> httpx.Response:
    return httpx.get(f"{mail.api.url}/invitation/accept", params={"token": token}, timeout=10)


def _accept(mail: MailStack, token: str, **fields) -> httpx.Response:
    return httpx.post(f"{mail.api.url}/invitation/accept", json={"token": token, **fields}, timeout=30)


async def _invitation(db, invitation_id: str):
    return await db.fetchrow("SELECT * FROM invitations WHERE id = $1", uuid.UUID(invitation_id))


async def _sent(db, invitation_id: str, timeout: float = 10):
    """The invitation once the worker marked it sent (just after the SMTP server took the message)."""
    for _ in range(int(timeout / 0.05)):
        row = await _invitation(db, invitation_id)
        if row["sent_at"] is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the invitation was not marked sent")


async def test_the_mail_carries_a_single_use_link_that_creates_the_user_in_that_account(mail, cluster, db):
    account_id = mail.admin.create_account(f"Acme {uuid.uuid4().hex[:6]}")
    address = _address()
    invitation = _invite(mail, account_id, address, user_role="team_admin")
    assert (invitation["user_email"], invitation["user_role"], invitation["status"]) == (address, "team_admin",
                                                                                          "pending")
    [received] = mail.central.wait_to(address)
    assert received.rcpt_tos == [address] and received.mail_from == SENDER
    assert received.message["To"] == address
    assert "Acme" in received.message["Subject"]
    text, html = received.part("plain"), received.part("html")
    token = _token(received)
    for part in (text, html):
        assert f"{PROXY}/invitation/accept?token={token}" in part
        assert SUPPORT in part
        assert "team admin" in part
    assert f'src="{LOGO}"' in html

    # Only the token's hash is stored; the list shows the invitation as sent.
    row = await _sent(db, invitation["id"])
    assert row["token_hash"] and token not in str(dict(row)) and row["sent_via"] == "central"
    listed = mail.admin.ok("GET", "/invitation/list", account_id)
    assert [(i["id"], i["status"]) for i in listed["invitations"]] == [(invitation["id"], "sent")]

    # Opening the link shows who invited whom, and changes nothing, however often.
    for _ in range(2):
        preview = _open(mail, token)
        assert preview.status_code == 200
        assert preview.json()["user_email"] == address and preview.json()["user_role"] == "team_admin"
        assert preview.json()["account_name"].startswith("Acme")
    assert (await _invitation(db, invitation["id"]))["accepted_at"] is None
    assert await db.fetchval("SELECT count(*) FROM users WHERE user_email = $1", address) == 0

    # Two acceptances race: exactly one creates the user.
    answers: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(_accept(mail, token, password="correct horse battery")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [200, 404]
    user = next(answer.json() for answer in answers if answer.status_code == 200)
    assert (user["user_email"], user["user_role"], user["account_id"]) == (address, "team_admin", account_id)
    rows = await db.fetch("SELECT account_id, password_hash FROM users WHERE user_email = $1", address)
    assert [str(r["account_id"]) for r in rows] == [account_id]
    assert rows[0]["password_hash"].startswith("scrypt$") and "correct horse" not in rows[0]["password_hash"]
    accepted = await _invitation(db, invitation["id"])
    assert accepted["accepted_at"] is not None and str(accepted["accepted_user_id"]) == user["user_id"]

    # Used: the link opens nothing and accepts nothing any more.
    assert _open(mail, token).status_code == 404
    assert _accept(mail, token).status_code == 404
    assert mail.admin.ok("GET", "/invitation/info", account_id,
                         params={"invitation_id": invitation["id"]})["status"] == "accepted"

    # The token never reached a log line of any process.
    assert not [p.name for p in cluster.processes if token in p.log_path.read_text(errors="replace")]


async def test_an_expired_link_is_refused_and_a_sent_invitation_is_not_sent_again(mail, db):
    account_id = mail.admin.create_account(f"Expiring {uuid.uuid4().hex[:6]}")
    address = _address()
    invitation = _invite(mail, account_id, address)
    [received] = mail.central.wait_to(address)
    token = _token(received)
    await _sent(db, invitation["id"])

    # The job again (a redelivery, a second enqueue): an invitation already sent is left alone.
    pool = await create_job_pool(mail.redis_url)
    try:
        job = await pool.enqueue_job("send_invitation_email", invitation["id"], _job_id=f"again-{uuid.uuid4()}")
        assert await job.result(timeout=15) == "already sent"
    finally:
        await pool.aclose()
    assert len(mail.central.to(address)) == 1

    await db.execute("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1",
                     uuid.UUID(invitation["id"]))
    assert _open(mail, token).status_code == 404
    refused = _accept(mail, token, password="correct horse battery")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "invitation_not_found"
    assert await db.fetchval("SELECT count(*) FROM users WHERE user_email = $1", address) == 0
    assert (await _invitation(db, invitation["id"]))["accepted_at"] is None
    assert mail.admin.ok("GET", "/invitation/info", account_id,
                         params={"invitation_id": invitation["id"]})["status"] == "expired"
    # An expired invitation does not block a new one.
    assert _invite(mail, account_id, address)["status"] == "pending"


async def test_bad_inputs_fail_cleanly_and_write_nothing(mail, db):
    account_id = mail.admin.create_account(f"Strict {uuid.uuid4().hex[:6]}")
    domain = f"other-{uuid.uuid4().hex[:8]}.test"
    mail.admin.create_account(f"Other {uuid.uuid4().hex[:6]}", domain=domain)

    def invite(body: dict, key: str | None = None) -> httpx.Response:
        return mail.admin.call("POST", "/invitation/new", account_id, key=key, json=body)

    for address in ("victim@example.com\r\nBcc: attacker@evil.test", "victim@example.com\nTo: x@evil.test",
                    "victim@example.com,attacker@evil.test", "Victim <victim@example.com>", "victim@exa\x00mple.com",
                    "not-an-address"):
        answer = invite({"user_email": address})
        assert answer.status_code == 400, address
        assert answer.json()["error"]["param"] == "user_email"
    assert invite({"user_email": _address(), "user_role": "super_admin"}).status_code == 403
    assert invite({"user_email": _address(), "user_role": "chief"}).status_code == 400
    foreign = invite({"user_email": f"someone@{domain}"})
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "domain_of_another_account"
    assert await db.fetchval("SELECT count(*) FROM invitations WHERE account_id = $1", uuid.UUID(account_id)) == 0

    # Only an account admin invites.
    member = mail.admin.ok("POST", "/user/new", account_id, json={"user_email": _address("member")})
    member_key = mail.admin.generate_key(account_id, user_id=member["user_id"])["key"]
    assert invite({"user_email": _address()}, key=member_key).status_code == 403
    assert httpx.post(f"{mail.api.url}/invitation/new", json={"user_email": _address()}, timeout=10).status_code == 401
    # An existing user, or an open invitation, is not invited again.
    assert invite({"user_email": member["user_email"]}).json()["error"]["code"] == "user_exists"
    address = _address()
    assert invite({"user_email": address}).status_code == 200
    again = invite({"user_email": address.upper()})
    assert again.status_code == 409 and again.json()["error"]["code"] == "invitation_exists"
    assert await db.fetchval("SELECT count(*) FROM invitations WHERE account_id = $1", uuid.UUID(account_id)) == 1

    # Links that are not one: all the same 404, and no trace of a token in the answer.
    for token in ("", "short", "x" * 43, "y" * 500, "../../etc/passwd", "abc\r\ndef" * 5):
        assert _open(mail, token).status_code in (400, 404), token
        assert _accept(mail, token).status_code in (400, 404), token
    assert _accept(mail, "x" * 43, password="short").status_code == 400


async def test_tenant_first_uses_the_accounts_own_server_and_falls_back_to_the_central_one(mail, cluster, db):
    account_id = mail.admin.create_account(f"Own SMTP {uuid.uuid4().hex[:6]}")
    own = {"host": "127.0.0.1", "port": mail.tenant.port, "username": TENANT_LOGIN, "password": TENANT_PASSWORD,
           "sender_email": "invites@acme.test", "tls": "none"}
    shown = mail.admin.ok("PUT", "/email/smtp", account_id, json=own)
    assert shown == {"configured": True, "host": "127.0.0.1", "port": mail.tenant.port, "username": TENANT_LOGIN,
                     "sender_email": "invites@acme.test", "tls": "none", "password_set": True}
    assert TENANT_PASSWORD not in mail.admin.call("GET", "/email/smtp", account_id).text
    stored = await db.fetchval("SELECT smtp_config::text FROM accounts WHERE id = $1", uuid.UUID(account_id))
    assert TENANT_PASSWORD not in stored  # sealed

    address = _address("own")
    _invite(mail, account_id, address)
    [received] = mail.tenant.wait_to(address)
    assert received.mail_from == "invites@acme.test" and received.authenticated_as == TENANT_LOGIN
    assert mail.central.to(address) == []

    # The account's server refuses (a wrong password now): the central server takes the mail.
    mail.admin.ok("PUT", "/email/smtp", account_id, json={**own, "password": "wrong-" + TENANT_PASSWORD})
    fallback = _address("fallback")
    invitation = _invite(mail, account_id, fallback)
    assert [m.mail_from for m in mail.central.wait_to(fallback)] == [SENDER]
    assert mail.tenant.to(fallback) == []
    assert (await _sent(db, invitation["id"]))["sent_via"] == "central"

    # Neither password reached a log line.
    assert not [p.name for p in cluster.processes if TENANT_PASSWORD in p.log_path.read_text(errors="replace")]

    # A new host does not get the stored password unless it is sent again.
    without_password = {k: v for k, v in own.items() if k != "password"}
    moved = mail.admin.call("PUT", "/email/smtp", account_id, json={**without_password, "host": "smtp.evil.test"})
    assert moved.status_code == 400 and moved.json()["error"]["param"] == "password"


async def test_central_mode_ignores_the_accounts_own_server(mail):
    account_id = mail.admin.create_account(f"Central {uuid.uuid4().hex[:6]}")
    mail.admin.ok("PUT", "/email/smtp", account_id, json={
        "host": "127.0.0.1", "port": mail.tenant.port, "username": TENANT_LOGIN, "password": TENANT_PASSWORD,
        "sender_email": "invites@acme.test", "tls": "none"})
    mail.use_worker("central")
    try:
        address = _address("central")
        _invite(mail, account_id, address)
        assert [m.mail_from for m in mail.central.wait_to(address)] == [SENDER]
        await asyncio.sleep(0.3)
        assert mail.tenant.to(address) == []
    finally:
        mail.use_worker("tenant_first")
