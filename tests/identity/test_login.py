"""Email-first console login: /v2/login/resolve, password sign-in (UI_USERNAME/UI_PASSWORD and users),
the session cookie with CSRF protection, rate-limited failures, sign-out."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from app.identity.passwords import hash_password_sync
from tests.conftest import EXTRA_CANARIES
from tests.identity.browser import Browser, set_cookies
from tests.identity.conftest import UI_PASSWORD, UI_USERNAME

USER_PASSWORD = "user-password-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def place(admin):
    """An account with a domain and no SSO, and an account admin and an internal user with passwords."""
    EXTRA_CANARIES.append(("user password", USER_PASSWORD))
    domain = f"p{uuid.uuid4().hex[:8]}.example.com"
    account_id = admin.create_account(f"login-{domain}", domain=domain)
    users = {}
    for role in ("account_admin", "internal_user"):
        email = f"{role.replace('_', '-')}@{domain}"
        users[role] = admin.ok("POST", "/user/new", account_id, json={"user_email": email, "user_role": role})
    return {"domain": domain, "account_id": account_id, "users": users}


@pytest.fixture(scope="module")
async def passwords(place, services):
    conn = await asyncpg.connect(services.database_url)
    try:
        for user in place["users"].values():
            await conn.execute("UPDATE users SET password_hash = $1 WHERE id = $2", hash_password_sync(USER_PASSWORD),
                               uuid.UUID(user["user_id"]))
    finally:
        await conn.close()
    return place


def _error(response) -> tuple[str, str]:
    body = response.json()["error"]
    return body["type"], body["code"]


async def _key_count(db) -> int:
    return await db.fetchval("SELECT count(*) FROM virtual_keys")


def test_resolve_answers_password_for_a_domain_without_sso(console_api, place):
    browser = Browser(console_api.url)
    answer = browser.request("POST", "/v2/login/resolve", json={"email": f"someone@{place['domain'].upper()}"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"account_id": place["account_id"], "method": "password"}


def test_resolve_tells_nothing_about_unknown_domains(console_api, idp):
    browser = Browser(console_api.url)
    answers = [browser.request("POST", "/v2/login/resolve", json={"email": email}).json() for email in (
        f"a@unknown-{uuid.uuid4().hex[:6]}.example.com", f"b@unknown-{uuid.uuid4().hex[:6]}.example.com",
        f"root@{idp.ops_domain}")]  # a super admin email looks like any stranger
    for answer in answers:
        # The global Zitadel is configured for this process: strangers are sent there, none to an account.
        assert answer["account_id"] is None and answer["method"] == "sso"
        assert answer["redirect_url"].startswith(f"{console_api.url}/zitadel/authorize?email=")


@pytest.mark.parametrize("email", ["a@b.example.com\r\nBcc: c@d.example.com", "no-at-sign", "x@y\nz.com"])
def test_resolve_refuses_malformed_emails(console_api, email):
    answer = Browser(console_api.url).request("POST", "/v2/login/resolve", json={"email": email})
    assert answer.status_code == 400
    assert _error(answer)[0] == "invalid_request_error"


def test_crlf_in_an_email_is_refused_at_every_door(console_api):
    browser = Browser(console_api.url)
    login = browser.request("POST", "/v2/login", json={"email": "a@b.example.com\r\nX: y", "password": "secret-pw"})
    assert login.status_code == 400 and "set-cookie" not in login.headers
    for path in ("/zitadel/authorize?email=a%40b.example.com%0D%0AX%3A%20y",
                 "/sso/authorize?email=a%40b.example.com%0D%0AX%3A%20y"):
        answer = browser.request("GET", path)
        assert answer.status_code == 400 and "location" not in answer.headers, path


async def test_ui_password_signs_in_the_super_admin_with_a_session_not_a_key(console_api, db):
    keys = await _key_count(db)
    browser = Browser(console_api.url)
    answer = browser.request("POST", "/v2/login", json={"username": UI_USERNAME, "password": UI_PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == "super_admin" and answer.json()["user_id"] is None
    cookies = set_cookies(answer)
    session, csrf = cookies["alchemi_session"], cookies["alchemi_csrf"]
    assert {"httponly", "secure"} <= set(session) and session["samesite"].lower() == "lax" and session["path"] == "/"
    assert 0 < int(session["max-age"]) <= 8 * 3600
    assert "httponly" not in csrf and "secure" in csrf and csrf["samesite"].lower() == "lax"
    assert UI_PASSWORD not in answer.text and session["value"] not in answer.text
    assert await _key_count(db) == keys  # logging in never mints a key

    me = browser.request("GET", "/v2/session")
    assert me.status_code == 200 and me.json()["role"] == "super_admin" and me.json()["method"] == "password"
    assert browser.request("GET", "/accounts").status_code == 200

    # State-changing console calls need the CSRF header (double submit).
    refused = browser.request("POST", "/accounts", json={"name": "no-csrf"})
    assert refused.status_code == 403 and _error(refused) == ("permission_error", "csrf_failed")
    wrong = browser.request("POST", "/accounts", json={"name": "bad-csrf"}, headers={"x-csrf-token": "guess"})
    assert wrong.status_code == 403
    made = browser.request("POST", "/accounts", csrf=True, json={"name": f"by-session-{uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text


async def test_users_sign_in_with_their_password_and_act_with_their_role(console_api, passwords, db):
    keys = await _key_count(db)
    admin_user = passwords["users"]["account_admin"]
    browser = Browser(console_api.url)
    answer = browser.request("POST", "/v2/login", json={"email": admin_user["user_email"].upper(),
                                                         "password": USER_PASSWORD})
    assert answer.status_code == 200, answer.text
    me = browser.request("GET", "/v2/session").json()
    assert (me["user_id"], me["account_id"], me["role"]) == (admin_user["user_id"], passwords["account_id"],
                                                            "account_admin")
    listed = browser.request("GET", "/user/list")
    assert listed.status_code == 200, listed.text
    assert {u["user_id"] for u in listed.json()["users"]} >= {u["user_id"] for u in passwords["users"].values()}
    assert await _key_count(db) == keys

    viewer = Browser(console_api.url)
    assert viewer.request("POST", "/v2/login", json={"email": passwords["users"]["internal_user"]["user_email"],
                                                     "password": USER_PASSWORD}).status_code == 200
    refused = viewer.request("GET", "/user/list")
    assert refused.status_code == 403 and _error(refused)[0] == "permission_error"


def test_a_form_post_signs_in_and_lands_on_the_console(console_api, passwords):
    browser = Browser(console_api.url)
    answer = browser.request("POST", "/v2/login", data={"email": passwords["users"]["internal_user"]["user_email"],
                                                        "password": USER_PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == f"{console_api.url}/ui/"
    assert "alchemi_session" in set_cookies(answer)


@pytest.mark.parametrize("body", [
    {"username": UI_USERNAME, "password": "wrong"},
    {"email": "account-admin@{domain}", "password": "wrong-password"},
    {"email": "nobody@{domain}", "password": USER_PASSWORD},
    {"email": "someone@unknown-domain.example.com", "password": USER_PASSWORD},
    {"username": "not-the-ui-user", "password": UI_PASSWORD},
])
def test_wrong_credentials_are_one_401_and_set_nothing(console_api, passwords, body):
    body = {k: v.format(domain=passwords["domain"]) for k, v in body.items()}
    answer = Browser(console_api.url).request("POST", "/v2/login", json=body)
    assert answer.status_code == 401
    assert _error(answer) == ("authentication_error", "invalid_credentials")
    assert answer.json()["error"]["message"] == "Wrong email or password"
    assert "set-cookie" not in answer.headers


def test_failed_sign_ins_are_rate_limited_per_login_and_address(console_api, passwords, admin):
    email = f"throttled-{uuid.uuid4().hex[:6]}@{passwords['domain']}"
    admin.ok("POST", "/user/new", passwords["account_id"], json={"user_email": email})
    browser = Browser(console_api.url)
    for _ in range(10):
        assert browser.request("POST", "/v2/login", json={"email": email, "password": "nope"}).status_code == 401
    limited = browser.request("POST", "/v2/login", json={"email": email, "password": "nope"})
    assert limited.status_code == 429 and _error(limited) == ("rate_limit_error", "too_many_login_attempts")
    assert 0 < int(limited.headers["retry-after"]) <= 900
    # Another login name from the same address is not held up.
    other = passwords["users"]["internal_user"]["user_email"]
    assert browser.request("POST", "/v2/login", json={"email": other, "password": USER_PASSWORD}).status_code == 200


def test_sign_out_ends_the_session_everywhere(console_api, passwords):
    browser = Browser(console_api.url)
    browser.request("POST", "/v2/login", json={"email": passwords["users"]["internal_user"]["user_email"],
                                               "password": USER_PASSWORD})
    stolen = dict(browser.cookies)
    assert browser.request("POST", "/v2/logout").status_code == 403  # CSRF applies to sign-out too
    out = browser.request("POST", "/v2/logout", csrf=True)
    assert out.status_code == 200
    assert {name: c.get("max-age") for name, c in set_cookies(out).items()} == {"alchemi_session": "0",
                                                                                 "alchemi_csrf": "0"}
    replay = Browser(console_api.url)
    replay.cookies = stolen
    answer = replay.request("GET", "/v2/session")
    assert answer.status_code == 401 and _error(answer) == ("authentication_error", "session_expired")


def test_forged_sessions_and_crossed_csrf_tokens_are_refused(console_api, passwords):
    email = passwords["users"]["account_admin"]["user_email"]
    first, second = Browser(console_api.url), Browser(console_api.url)
    for browser in (first, second):
        assert browser.request("POST", "/v2/login", json={"email": email, "password": USER_PASSWORD}).status_code == 200

    token = first.cookies["alchemi_session"]
    forged = Browser(console_api.url)
    forged.cookies = {"alchemi_session": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")}
    assert forged.request("GET", "/v2/session").status_code == 401
    unsigned = Browser(console_api.url)
    header, payload, _ = token.split(".")
    unsigned.cookies = {"alchemi_session": f"{header}.{payload}."}
    assert unsigned.request("GET", "/v2/session").status_code == 401

    # The second session's CSRF value does not unlock the first session (it is bound to its session).
    other_csrf = second.cookies["alchemi_csrf"]
    crossed = first.request("POST", "/team/new", json={"team_alias": "x"}, headers={
        "x-csrf-token": other_csrf, "cookie": f"alchemi_session={token}; alchemi_csrf={other_csrf}"})
    assert crossed.status_code == 403 and _error(crossed)[1] == "csrf_failed"


def test_another_sites_page_cannot_sign_anyone_in(console_api, passwords):
    answer = Browser(console_api.url).request(
        "POST", "/v2/login", data={"email": passwords["users"]["internal_user"]["user_email"],
                                   "password": USER_PASSWORD}, headers={"origin": "https://evil.example.net"})
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_an_api_key_wins_over_the_session_cookie(console_api, passwords, admin):
    browser = Browser(console_api.url)
    browser.request("POST", "/v2/login", json={"email": passwords["users"]["internal_user"]["user_email"],
                                               "password": USER_PASSWORD})
    # With the master key the super admin acts, and no CSRF header is needed: the key is the credential.
    answer = browser.request("GET", "/v2/session", headers={"authorization": f"Bearer {admin.master_key}"})
    assert answer.json()["role"] == "super_admin" and answer.json()["method"] == "api_key"
    made = browser.request("POST", "/accounts", json={"name": f"by-key-{uuid.uuid4().hex[:6]}"},
                           headers={"authorization": f"Bearer {admin.master_key}"})
    assert made.status_code == 201


async def test_a_deleted_user_loses_the_session_at_once(console_api, passwords, admin, db):
    email = f"leaving-{uuid.uuid4().hex[:6]}@{passwords['domain']}"
    user = admin.ok("POST", "/user/new", passwords["account_id"], json={"user_email": email})
    await db.execute("UPDATE users SET password_hash = $1 WHERE id = $2", hash_password_sync(USER_PASSWORD),
                     uuid.UUID(user["user_id"]))
    browser = Browser(console_api.url)
    assert browser.request("POST", "/v2/login", json={"email": email, "password": USER_PASSWORD}).status_code == 200
    assert browser.request("GET", "/v2/session").status_code == 200
    admin.ok("POST", "/user/delete", passwords["account_id"], json={"user_ids": [user["user_id"]]})
    gone = browser.request("GET", "/v2/session")
    assert gone.status_code == 401 and _error(gone) == ("authentication_error", "session_expired")


async def test_a_plain_users_console_session_sees_only_its_own_spend(console_api, passwords, admin, db):
    """A signed-in user without an admin role gets its own spend from /spend/summary, never the account's."""
    email = f"plain-{uuid.uuid4().hex[:6]}@{passwords['domain']}"
    user = admin.ok("POST", "/user/new", passwords["account_id"], json={"user_email": email,
                                                                        "user_role": "internal_user"})
    await db.execute("UPDATE users SET password_hash = $1 WHERE id = $2", hash_password_sync(USER_PASSWORD),
                     uuid.UUID(user["user_id"]))
    browser = Browser(console_api.url)
    assert browser.request("POST", "/v2/login", json={"email": email, "password": USER_PASSWORD}).status_code == 200
    summary = browser.request("GET", "/spend/summary")
    assert summary.status_code == 200
    assert summary.json()["scope"] == "user" and summary.json()["lifetime_spend"] == 0
