"""Single sign-on end to end against a real OpenID Connect provider (oidc-provider on 127.0.0.1): the global
Zitadel flavour and an account's own OIDC provider, through the browser's redirects, and every way a
sign-in must fail cleanly (401/403, no session cookie, no user written)."""

from __future__ import annotations

import hashlib
import uuid

import msgspec
import pytest
import redis

from tests.identity.browser import Browser, query, set_cookies

STATE_KEY = "alchemi:sso:state:"


@pytest.fixture(scope="module")
def world(admin, oidc_provider):
    """Account Z signs in through the global Zitadel (linked to the IdP's org); account O has its own OIDC IdP."""
    idp = oidc_provider
    zitadel = admin.create_account(f"sso-z-{idp.run}", domain=idp.zitadel_domain)
    admin.ok("PUT", "/sso/config", zitadel, json={"provider": "zitadel", "role_mapping": {"admin": "account_admin"},
                                                  "zitadel_org_id": idp.org})
    own = admin.create_account(f"sso-o-{idp.run}", domain=idp.oidc_domain)
    admin.ok("PUT", "/sso/config", own, json={
        "provider": "oidc", "issuer": idp.issuer, "client_id": idp.account_client, "client_secret": idp.account_secret,
        "role_mapping": {"viewer": "internal_user_viewer", "owner": "account_admin"}})
    return {"idp": idp, "zitadel": zitadel, "own": own}


@pytest.fixture(scope="module")
def store(services):
    client = redis.Redis.from_url(services.redis_url)
    yield client
    client.close()


def _state_key(provider_url: str) -> str:
    return STATE_KEY + hashlib.sha256(query(provider_url)["state"].encode()).hexdigest()


async def _users(db, email_like: str) -> list:
    return await db.fetch("SELECT account_id, user_email, user_role FROM users WHERE user_email LIKE $1", email_like)


def _refused(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert "alchemi_session" not in set_cookies(response)
    if code:
        assert response.json()["error"]["code"] == code, response.text


def test_resolve_sends_each_account_to_its_identity_provider(console_api, world):
    idp, browser = world["idp"], Browser(console_api.url)
    z = browser.request("POST", "/v2/login/resolve", json={"email": idp.email("alice")}).json()
    assert (z["account_id"], z["method"]) == (world["zitadel"], "sso")
    assert z["redirect_url"].startswith(f"{console_api.url}/zitadel/authorize?email=alice")
    o = browser.request("POST", "/v2/login/resolve", json={"email": idp.email("olga")}).json()
    assert (o["account_id"], o["method"]) == (world["own"], "sso")
    assert query(o["redirect_url"]) == {"account_id": world["own"], "email": idp.email("olga")}


async def test_zitadel_sign_in_creates_the_user_with_the_mapped_role(console_api, world, db):
    idp, browser = world["idp"], Browser(console_api.url)
    provider_url = browser.start(f"/zitadel/authorize?email={idp.email('alice')}")
    sent = query(provider_url)
    assert provider_url.startswith(f"{idp.issuer}/auth?")
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"] and sent["nonce"] and sent["state"]
    assert sent["client_id"] == idp.console_client and sent["login_hint"] == idp.email("alice")
    assert "urn:zitadel:iam:org:projects:roles" in sent["scope"]

    callback = browser.sign_in_at_provider(provider_url, "alice")
    landed = browser.request("GET", callback)
    assert landed.status_code == 302 and landed.headers["location"] == f"{console_api.url}/ui/"
    cookies = set_cookies(landed)
    assert {"httponly", "secure"} <= set(cookies["alchemi_session"])
    assert cookies["alchemi_session"]["samesite"].lower() == "lax"
    me = browser.request("GET", "/v2/session").json()
    assert (me["account_id"], me["role"], me["email"], me["method"]) == (world["zitadel"], "account_admin",
                                                                        idp.email("alice"), "sso")
    rows = await _users(db, idp.email("alice"))
    assert [(str(r["account_id"]), r["user_role"]) for r in rows] == [(world["zitadel"], "account_admin")]
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE user_id = $1", uuid.UUID(me["user_id"])) == 0
    # The account admin runs the account from the console.
    assert browser.request("GET", "/user/list").status_code == 200


async def test_a_second_sign_in_finds_the_same_user_and_roles_stay_in_their_org(console_api, world, db):
    idp = world["idp"]
    for _ in range(2):
        assert Browser(console_api.url).sso("/zitadel/authorize", "bob").status_code == 302
    assert [r["user_role"] for r in await _users(db, idp.email("bob"))] == ["internal_user"]
    # carol is an admin in another Zitadel organization only: no role here beyond the default.
    browser = Browser(console_api.url)
    assert browser.sso("/zitadel/authorize", "carol").status_code == 302
    assert browser.request("GET", "/v2/session").json()["role"] == "internal_user"


def test_a_super_admin_email_signs_in_as_the_super_admin(console_api, world):
    browser = Browser(console_api.url)
    assert browser.sso("/zitadel/authorize", "root").status_code == 302
    me = browser.request("GET", "/v2/session").json()
    assert (me["role"], me["account_id"], me["user_id"]) == ("super_admin", None, None)
    assert browser.request("GET", "/accounts").status_code == 200


def test_sessions_work_on_every_api_process_while_their_grounds_hold(console_api, api, world):
    """Any process with the same secret key accepts a session; a super admin whose email is no longer in
    that process's SUPER_ADMIN_EMAILS (the shared `api` has none) is refused there at once."""
    user, root = Browser(console_api.url), Browser(console_api.url)
    user.sso("/zitadel/authorize", "bob")
    root.sso("/zitadel/authorize", "root")
    elsewhere = Browser(api.url)
    elsewhere.cookies = dict(user.cookies)
    assert elsewhere.request("GET", "/v2/session").json()["email"] == world["idp"].email("bob")
    elsewhere.cookies = dict(root.cookies)
    refused = elsewhere.request("GET", "/v2/session")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "session_expired"


async def test_an_accounts_own_provider_signs_its_people_in(console_api, world, db):
    idp = world["idp"]
    olga = Browser(console_api.url)
    provider_url = olga.start(f"/sso/authorize?email={idp.email('olga')}")
    assert query(provider_url)["client_id"] == idp.account_client  # the account's client, ES256 ID tokens
    assert olga.request("GET", olga.sign_in_at_provider(provider_url, "olga")).status_code == 302
    assert olga.request("GET", "/v2/session").json()["role"] == "internal_user_viewer"
    oscar = Browser(console_api.url)
    assert oscar.sso(f"/sso/authorize?account_id={world['own']}", "oscar").status_code == 302
    assert oscar.request("GET", "/v2/session").json()["role"] == "account_admin"  # the highest mapped role
    rows = await _users(db, f"%@{idp.oidc_domain}")
    assert {(r["user_email"], str(r["account_id"])) for r in rows} == {
        (idp.email("olga"), world["own"]), (idp.email("oscar"), world["own"])}


# --- refusals: 401/403, no session, nothing written --------------------------------------------------------

def test_a_callback_without_or_with_an_unknown_state_is_refused(console_api, world):
    browser = Browser(console_api.url)
    _refused(browser.request("GET", "/sso/callback?code=abc"), 401, "sso_state_invalid")
    _refused(browser.request("GET", "/zitadel/callback?code=abc&state=" + uuid.uuid4().hex), 401, "sso_state_invalid")
    _refused(browser.request("GET", "/zitadel/callback?error=access_denied&state=x"), 401, "sso_denied")


async def test_a_callback_is_good_once(console_api, world, db):
    browser = Browser(console_api.url)
    callback = browser.sign_in_at_provider(browser.start("/zitadel/authorize"), "bob")
    assert browser.request("GET", callback).status_code == 302
    _refused(browser.request("GET", callback), 401, "sso_state_invalid")


async def test_a_reused_code_is_refused_by_the_provider(console_api, world, store):
    browser = Browser(console_api.url)
    provider_url = browser.start("/zitadel/authorize")
    pending, binding = store.get(_state_key(provider_url)), browser.cookies["alchemi_sso"]
    callback = browser.sign_in_at_provider(provider_url, "bob")
    assert browser.request("GET", callback).status_code == 302
    # The state and its browser binding again, so that only the code is stale.
    store.set(_state_key(provider_url), pending, ex=600)
    browser.cookies["alchemi_sso"] = binding
    _refused(browser.request("GET", callback), 401, "sso_code_rejected")


@pytest.mark.parametrize("tamper, login, code", [("code_verifier", "dave", "sso_code_rejected"),
                                                 ("nonce", "gina", "invalid_id_token")])
async def test_a_wrong_pkce_verifier_or_nonce_is_refused(console_api, world, store, db, tamper, login, code):
    browser = Browser(console_api.url)
    provider_url = browser.start(f"/sso/authorize?account_id={world['own']}")
    key = _state_key(provider_url)
    pending = msgspec.json.decode(store.get(key))
    pending[tamper] = "x" * 64
    store.set(key, msgspec.json.encode(pending), ex=600)
    callback = browser.sign_in_at_provider(provider_url, login)
    _refused(browser.request("GET", callback), 401, code)
    assert await _users(db, world["idp"].email(login)) == []


def test_a_callback_in_another_browser_is_refused(console_api, world):
    victim, attacker = Browser(console_api.url), Browser(console_api.url)
    callback = attacker.sign_in_at_provider(attacker.start("/zitadel/authorize"), "bob")
    _refused(victim.request("GET", callback), 401, "sso_state_invalid")  # login CSRF: no binding cookie


def test_a_callback_naming_another_issuer_is_refused(console_api, world):
    browser = Browser(console_api.url)
    callback = browser.sign_in_at_provider(browser.start("/zitadel/authorize"), "bob")
    forged = callback.replace("iss=http%3A%2F%2F127.0.0.1", "iss=http%3A%2F%2Fevil.example")
    assert forged != callback
    _refused(browser.request("GET", forged), 401, "sso_issuer_mismatch")


@pytest.mark.parametrize("login, path, status, code, pattern", [
    ("mallory", "/zitadel/authorize", 401, "sso_email_invalid", "mallory%"),
    ("eve", "/zitadel/authorize", 403, "sso_org_mismatch", "eve@%"),
    ("unverified", "/zitadel/authorize", 403, "sso_email_unverified", "unverified@%"),
    ("stranger", "/zitadel/authorize", 403, "sso_no_account", "stranger@%"),
    ("intruder", "/sso/authorize?account_id={own}", 403, "sso_account_mismatch", "intruder@%"),
])
async def test_people_who_do_not_belong_are_refused_and_not_created(console_api, world, db, login, path, status,
                                                                    code, pattern):
    browser = Browser(console_api.url)
    _refused(browser.sso(path.format(own=world["own"]), login), status, code)
    assert await _users(db, pattern) == []


def test_sso_settings_never_show_the_secret_and_only_the_super_admin_links_zitadel(console_api, world, admin):
    shown = admin.ok("GET", "/sso/config", world["own"])
    assert shown["client_secret_set"] is True and "client_secret" not in shown
    assert world["idp"].account_secret not in str(shown)
    assert shown["redirect_uri"].endswith("/sso/callback")
    oscar = Browser(console_api.url)  # an account admin of the account, signed in by its own IdP
    oscar.sso(f"/sso/authorize?account_id={world['own']}", "oscar")
    mine = oscar.request("GET", "/sso/config")
    assert mine.status_code == 200 and mine.json()["account_id"] == world["own"]
    body = {"provider": "oidc", "issuer": world["idp"].issuer, "client_id": world["idp"].account_client,
            "role_mapping": {"viewer": "internal_user_viewer", "owner": "account_admin"}}
    kept = oscar.request("PUT", "/sso/config", csrf=True, json=body)
    assert kept.status_code == 200 and kept.json()["client_secret_set"] is True  # left out: kept
    linked = oscar.request("PUT", "/sso/config", csrf=True, json={**body, "zitadel_org_id": "someone-elses-org"})
    assert linked.status_code == 403 and linked.json()["error"]["code"] == "super_admin_required"
    taken = admin.call("PUT", "/sso/config", world["own"], json={**body, "zitadel_org_id": world["idp"].org})
    assert taken.status_code == 409
    plain_http = admin.call("PUT", "/sso/config", world["own"], json={**body, "issuer": "http://idp.example.com"})
    assert plain_http.status_code == 400
