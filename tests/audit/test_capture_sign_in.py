"""Console sign-in on the audit trail, through the real console API and a real OpenID Connect provider:
each password or SSO sign-in, each refusal (with its reason, never the password) and each sign-out is one
event, of the account whose user it is; a sign-in of no account's user belongs to no account."""

from __future__ import annotations

import uuid

import pytest

from app.identity.passwords import hash_password_sync
from tests.audit.trail import actions, events, request_id, who
from tests.conftest import EXTRA_CANARIES
from tests.identity.browser import Browser
from tests.identity.conftest import UI_PASSWORD, UI_USERNAME

PASSWORD = "audited-password-" + uuid.uuid4().hex
WRONG = "wrong-password-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
async def place(admin, services):
    """An account with a domain and an account admin who has a password."""
    import asyncpg

    EXTRA_CANARIES.append(("user password", PASSWORD))
    domain = f"s{uuid.uuid4().hex[:8]}.example.com"
    account_id = admin.create_account(f"sign-in-{domain}", domain=domain)
    user = admin.ok("POST", "/user/new", account_id, json={"user_email": f"boss@{domain}",
                                                           "user_role": "account_admin"})
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute("UPDATE users SET password_hash = $1 WHERE id = $2", hash_password_sync(PASSWORD),
                           uuid.UUID(user["user_id"]))
    finally:
        await conn.close()
    return {"domain": domain, "account_id": account_id, "user": user}


def _login(console_api, body: dict, ident: str | None = None) -> tuple[Browser, int]:
    browser = Browser(console_api.url)
    headers = {"x-request-id": ident} if ident else {}
    return browser, browser.request("POST", "/v2/login", json=body, headers=headers).status_code


async def test_a_password_sign_in_and_sign_out_are_events_of_the_users_account(console_api, place, db):
    user, ident = place["user"], request_id()
    browser, status = _login(console_api, {"email": user["user_email"], "password": PASSWORD}, ident)
    assert status == 200
    assert browser.request("POST", "/v2/logout", csrf=True).status_code == 200
    trail = await events(db, place["account_id"], target_id=user["user_id"])
    assert actions(trail) == ["user.created", "login.succeeded", "logout.succeeded"]
    signed_in, signed_out = trail[1:]
    assert who(signed_in) == ("user", user["user_id"], "account_admin", "127.0.0.1")
    assert signed_in["request_id"] == ident and signed_in["outcome"] == "success"
    assert signed_in["detail"] == {"method": "password", "email": user["user_email"]}
    assert who(signed_out) == who(signed_in) and signed_out["detail"] == {"method": "password"}


async def test_failed_sign_ins_say_why_and_belong_to_the_account_only_when_its_user_was_tried(
        console_api, place, db):
    user = place["user"]
    stranger = f"nobody-{uuid.uuid4().hex[:8]}@{place['domain']}"
    elsewhere = f"someone@unknown-{uuid.uuid4().hex[:8]}.example.com"
    for login in (user["user_email"], stranger, elsewhere):
        assert _login(console_api, {"email": login, "password": WRONG})[1] == 401

    [wrong] = await events(db, place["account_id"], action="login.failed")
    assert (wrong["outcome"], wrong["target_id"]) == ("failure", user["user_id"])
    assert who(wrong) == ("anonymous", user["user_email"], None, "127.0.0.1")
    assert wrong["detail"] == {"method": "password", "reason": "wrong_password", "login": user["user_email"]}
    # No user with that email: the event is no account's, even when the domain is one's.
    for login in (stranger, elsewhere):
        [unknown] = await events(db, None, target_id=login)
        assert unknown["action"] == "login.failed" and unknown["detail"]["reason"] == "unknown_user"
    text = await db.fetchval("SELECT string_agg(detail::text || changes::text, ' ') FROM audit_events "
                             "WHERE action LIKE 'login.%'")
    assert WRONG not in text and PASSWORD not in text and UI_PASSWORD not in text


async def test_the_super_admin_signs_in_outside_any_account_and_throttled_attempts_are_denied(console_api, db):
    assert _login(console_api, {"username": UI_USERNAME, "password": UI_PASSWORD})[1] == 200
    signed_in = (await events(db, None, target_id=UI_USERNAME, action="login.succeeded"))[-1]
    assert who(signed_in) == ("user", UI_USERNAME, "super_admin", "127.0.0.1")

    login = f"hammered-{uuid.uuid4().hex[:8]}@example.com"
    statuses = [_login(console_api, {"email": login, "password": WRONG})[1] for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    trail = await events(db, None, target_id=login)
    assert [(event["detail"]["reason"], event["outcome"]) for event in trail] == \
        [("unknown_user", "failure")] * 10 + [("throttled", "denied")]


async def test_sso_sign_ins_create_and_promote_users_and_refusals_are_recorded(console_api, oidc_provider, admin,
                                                                                 db):
    idp = oidc_provider
    account = admin.create_account(f"sso-audit-{idp.run}", domain=idp.zitadel_domain)
    admin.ok("PUT", "/sso/config", account, json={"provider": "zitadel", "role_mapping": {"admin": "account_admin"},
                                                  "zitadel_org_id": idp.org})
    alice = admin.ok("POST", "/user/new", account, json={"user_email": idp.email("alice")})  # internal_user

    assert Browser(console_api.url).sso("/zitadel/authorize", "alice").status_code == 302
    trail = await events(db, account, target_id=alice["user_id"])
    assert actions(trail) == ["user.created", "user.role_changed", "login.succeeded"]
    promoted, signed_in = trail[1:]
    assert promoted["changes"] == {"before": {"user_role": "internal_user"}, "after": {"user_role": "account_admin"}}
    assert promoted["detail"] == {"via": "sso"} and who(promoted)[:3] == ("user", alice["user_id"], "account_admin")
    assert signed_in["detail"] == {"method": "sso", "email": idp.email("alice")}

    assert Browser(console_api.url).sso("/zitadel/authorize", "bob").status_code == 302
    bob = await db.fetchval("SELECT id FROM users WHERE user_email = $1", idp.email("bob"))
    created, bob_in = await events(db, account, target_id=bob)
    assert (created["action"], bob_in["action"]) == ("user.created", "login.succeeded")
    assert created["detail"] == {"via": "sso"} and created["changes"]["after"]["user_email"] == idp.email("bob")
    assert who(created) == ("user", str(bob), "internal_user", "127.0.0.1")

    # eve belongs to another Zitadel organization: refused, and that refusal is on the trail.
    refused = Browser(console_api.url).sso("/zitadel/authorize", "eve")
    assert refused.status_code == 403
    [failed] = await events(db, None, target_id=idp.email("eve"))
    assert (failed["action"], failed["outcome"]) == ("login.failed", "denied")
    assert failed["detail"] == {"method": "sso", "reason": "sso_org_mismatch", "login": idp.email("eve")}
    text = await db.fetchval("SELECT string_agg(concat_ws(' ', actor_id, detail::text, changes::text), ' ') "
                             "FROM audit_events")
    assert idp.console_secret not in text and idp.account_secret not in text
