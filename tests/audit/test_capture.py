"""Every management change through the real API leaves one audit event of the account concerned, written
with the change (a change whose event cannot be written is not made): who did it (user or key, role,
address), which request, what changed (only the changed fields, secrets redacted). Refused calls and
budget blocks are on the trail too."""

from __future__ import annotations

import uuid
from datetime import datetime

import openai
import pytest

from app.embedded import APP_ROLE
from app.lib.jobs import create_job_pool, enqueue
from tests.audit.trail import actions, all_text, call, events, ok, request_id, wait_for_events, who
from tests.conftest import CANARY_PROVIDER_KEY, MASTER_KEY, make_tenant

REDACTED = "[redacted]"
MASTER = ("master_key", None, "super_admin", "127.0.0.1")
# Secrets handed to the API in this module: none may reach any event (checked by the last test).
SECRETS: list[str] = [CANARY_PROVIDER_KEY, MASTER_KEY]


def _secret(name: str) -> str:
    value = f"{name}-{uuid.uuid4().hex}"
    SECRETS.append(value)
    return value


def _user(admin, account_id: str, role: str = "internal_user", **fields) -> dict:
    return ok(admin, "POST", "/user/new", account_id,
              json={"user_email": f"u-{uuid.uuid4().hex[:10]}@example.com", "user_role": role, **fields})


async def test_a_key_is_audited_from_creation_to_deletion_with_who_where_and_which_request(admin, fake, db):
    tenant = make_tenant(admin, fake)
    SECRETS.append(tenant.key)
    first, second = request_id(), request_id()
    made = ok(admin, "POST", "/key/generate", tenant.account_id, request_id=first,
              json={"key_alias": "ci", "max_budget": 5})
    SECRETS.append(made["key"])
    key_hash = await db.fetchval("SELECT key_hash FROM virtual_keys WHERE id = $1", uuid.UUID(made["token"]))
    SECRETS.append(key_hash)
    ok(admin, "POST", "/key/update", tenant.account_id, request_id=second,
       json={"key": made["key"], "key_alias": "ci-2"})
    ok(admin, "POST", "/key/update", tenant.account_id, json={"key": made["token"], "blocked": True})
    ok(admin, "POST", "/key/update", tenant.account_id, json={"key": made["token"], "blocked": False})
    ok(admin, "POST", "/key/delete", tenant.account_id, json={"keys": [made["token"]]})

    trail = await events(db, tenant.account_id, target_id=made["token"])
    assert actions(trail) == ["key.created", "key.updated", "key.blocked", "key.unblocked", "key.deleted"]
    created, renamed, blocked, unblocked, deleted = trail
    assert all(who(event) == MASTER and event["target_type"] == "key" and event["outcome"] == "success"
               for event in trail)
    assert (created["request_id"], renamed["request_id"]) == (first, second)
    assert set(created["changes"]) == {"after"}
    after = created["changes"]["after"]
    assert (after["key_alias"], float(after["max_budget"]), after["key_hash"]) == ("ci", 5.0, REDACTED)
    assert renamed["changes"] == {"before": {"key_alias": "ci"}, "after": {"key_alias": "ci-2"}}
    assert blocked["changes"] == {"before": {"blocked": False}, "after": {"blocked": True}}
    assert unblocked["changes"] == {"before": {"blocked": True}, "after": {"blocked": False}}
    assert set(deleted["changes"]) == {"before"} and deleted["changes"]["before"]["key_alias"] == "ci-2"
    assert deleted["changes"]["before"]["key_hash"] == REDACTED

    # The key that made the tenant is the account's too; nothing of either key's value or hash is stored.
    text = await all_text(db)
    assert made["key"] not in text and key_hash not in text and tenant.key not in text


async def test_a_key_acts_under_its_own_id_and_role(admin, fake, db):
    tenant = make_tenant(admin, fake)
    boss = _user(admin, tenant.account_id, "account_admin")
    key = admin.generate_key(tenant.account_id, user_id=boss["user_id"])
    SECRETS.append(key["key"])
    team = ok(admin, "POST", "/team/new", key=key["key"], json={"team_alias": "made-by-a-key"})
    [event] = await events(db, tenant.account_id, target_id=team["team_id"])
    assert event["action"] == "team.created"
    assert who(event) == ("key", key["token"], "account_admin", "127.0.0.1")
    assert event["changes"]["after"]["team_alias"] == "made-by-a-key"


async def test_an_account_is_audited_as_its_own_event(admin, db):
    domain = f"a{uuid.uuid4().hex[:8]}.example.com"
    account_id = ok(admin, "POST", "/accounts", json={"name": "before", "domain": domain,
                                                      "admin_emails": [f"boss@{domain}"]})["account_id"]
    ok(admin, "PATCH", f"/accounts/{account_id}", json={"name": "after"})
    ok(admin, "POST", f"/accounts/{account_id}/admins", json={"email": f"second@{domain}"})
    ok(admin, "POST", f"/accounts/{account_id}/admins", json={"email": f"second@{domain}"})  # already: no change
    ok(admin, "DELETE", f"/accounts/{account_id}/admins/second@{domain}")
    ok(admin, "DELETE", f"/accounts/{account_id}")

    trail = await events(db, account_id)
    assert actions(trail) == ["account.created", "account.updated", "account.admin_added", "account.admin_removed",
                              "account.deleted"]
    assert all(event["target_id"] == account_id and who(event) == MASTER for event in trail)
    created, renamed, added, removed, deleted = trail
    assert (created["changes"]["after"]["name"], created["changes"]["after"]["admin_emails"]) == (
        "before", [f"boss@{domain}"])
    assert renamed["changes"] == {"before": {"name": "before"}, "after": {"name": "after"}}
    assert added["changes"] == {"after": {"email": f"second@{domain}"}}
    assert removed["changes"] == {"before": {"email": f"second@{domain}"}}
    assert deleted["changes"]["before"] == {"deleted_at": None, "domain": domain}
    assert deleted["changes"]["after"]["domain"] is None and deleted["changes"]["after"]["deleted_at"]


async def test_organizations_teams_members_and_users_each_leave_their_events(admin, fake, db):
    tenant = make_tenant(admin, fake)
    account = tenant.account_id
    org = ok(admin, "POST", "/organization/new", account, json={"organization_alias": "o1"})["organization_id"]
    person = _user(admin, account, organization_id=org)
    user = person["user_id"]
    team = ok(admin, "POST", "/team/new", account, json={"team_alias": "t1", "organization_id": org})["team_id"]
    ok(admin, "POST", "/team/member_add", account, json={"team_id": team, "member": {"user_id": user}})
    ok(admin, "POST", "/team/member_add", account, json={"team_id": team, "member": {"user_id": user, "role": "admin"}})
    role_change = request_id()
    ok(admin, "POST", "/user/update", account, request_id=role_change,
       json={"user_id": user, "user_role": "team_admin", "max_budget": 3})
    ok(admin, "POST", "/user/update", account, json={"user_id": user, "metadata": {"desk": "7"}})
    key = admin.generate_key(account, user_id=user, team_id=team)
    SECRETS.append(key["key"])
    ok(admin, "POST", "/team/member_delete", account, json={"team_id": team, "user_id": user})
    ok(admin, "POST", "/organization/update", account, json={"organization_id": org, "organization_alias": "o2"})
    ok(admin, "POST", "/team/update", account, json={"team_id": team, "blocked": True})
    ok(admin, "POST", "/team/delete", account, json={"team_ids": [team]})
    ok(admin, "POST", "/user/delete", account, json={"user_ids": [user]})
    ok(admin, "DELETE", "/organization/delete", account, json={"organization_ids": [org]})

    by_team = await events(db, account, target_id=team)
    assert actions(by_team) == ["team.created", "team.member_added", "team.member_updated", "team.member_removed",
                                "team.blocked", "team.deleted"]
    _, added, promoted, removed, blocked, _ = by_team
    assert added["changes"] == {"after": {"user_id": user, "role": "user"}} and added["detail"] == {"user_id": user}
    assert promoted["changes"] == {"before": {"role": "user"}, "after": {"role": "admin"}}
    # Taking a user out of a team revokes the keys they hold there: the event says which.
    assert removed["detail"] == {"user_id": user, "revoked_keys": [key["token"]]}
    assert blocked["changes"] == {"before": {"blocked": False}, "after": {"blocked": True}}

    by_user = await events(db, account, target_id=user)
    assert actions(by_user) == ["user.created", "user.role_changed", "user.updated", "user.deleted"]
    created, role_changed, updated, deleted = by_user
    assert created["changes"]["after"]["user_email"] == person["user_email"]
    assert created["changes"]["after"]["password_hash"] is None  # no password: nothing to redact
    # One event for the role change, holding the other field the same call changed.
    assert role_changed["request_id"] == role_change
    assert role_changed["changes"]["before"] == {"user_role": "internal_user", "max_budget": None}
    assert role_changed["changes"]["after"]["user_role"] == "team_admin"
    assert float(role_changed["changes"]["after"]["max_budget"]) == 3.0
    assert updated["changes"] == {"before": {"metadata": {}}, "after": {"metadata": {"desk": "7"}}}
    assert deleted["changes"]["before"]["user_email"] == person["user_email"] and deleted["detail"]["teams"] == []

    by_org = await events(db, account, target_id=org)
    assert actions(by_org) == ["organization.created", "organization.updated", "organization.deleted"]
    assert by_org[1]["changes"] == {"before": {"organization_alias": "o1"}, "after": {"organization_alias": "o2"}}
    assert by_org[2]["detail"] == {"detached_users": []}  # the user was deleted before


async def test_models_and_account_settings_are_audited_without_their_secrets(admin, fake, db):
    tenant = make_tenant(admin, fake)
    account = tenant.account_id
    aws_secret, smtp_password, client_secret = _secret("aws-secret"), _secret("smtp-pw"), _secret("oidc-secret")
    model = ok(admin, "POST", "/model/new", account, json={
        "model_name": "audited", "litellm_params": {
            "model": "openai/gpt-4o", "api_base": fake.base_url, "api_key": CANARY_PROVIDER_KEY,
            "aws_access_key_id": "AKIAAUDITTEST", "aws_secret_access_key": aws_secret}})
    ok(admin, "POST", "/model/delete", account, json={"id": model["model_id"]})
    ok(admin, "POST", "/router/settings", account, json={"num_retries": 4})
    smtp = {"host": "smtp.example.com", "sender_email": "noreply@example.com", "username": "relay"}
    ok(admin, "PUT", "/email/smtp", account, json={**smtp, "password": smtp_password})
    ok(admin, "PUT", "/email/smtp", account, json={**smtp, "port": 2525})  # the password is kept
    ok(admin, "DELETE", "/email/smtp", account)
    ok(admin, "PUT", "/sso/config", account, json={"provider": "oidc", "issuer": "https://idp.example.com",
                                                   "client_id": "console", "client_secret": client_secret})
    ok(admin, "DELETE", "/sso/config", account)

    created, deleted = await events(db, account, target_id=model["model_id"])
    assert (created["action"], deleted["action"]) == ("model.created", "model.deleted")
    for stored in (created["changes"]["after"], deleted["changes"]["before"]):
        assert stored["model_name"] == "audited" and stored["upstream_model"] == "gpt-4o"
        # The sealed provider key and the other credentials show that they are set, never what they are.
        assert stored["api_key_encrypted"] == REDACTED and stored["secret_params_encrypted"] == REDACTED

    [router] = await events(db, account, action="router_settings.updated")
    assert router["changes"] == {"before": {"num_retries": 2}, "after": {"num_retries": 4}}

    put, kept = await events(db, account, action="smtp_settings.updated")
    [removed] = await events(db, account, action="smtp_settings.deleted")
    assert put["changes"]["after"]["password"] == REDACTED and put["changes"]["after"]["host"] == "smtp.example.com"
    assert kept["changes"] == {"before": {"port": 587}, "after": {"port": 2525}}
    assert removed["changes"]["before"]["password"] == REDACTED and removed["changes"]["after"] == {
        "host": None, "port": None, "username": None, "sender_email": None, "tls": None, "password": None}

    [sso_set] = await events(db, account, action="sso_settings.updated")
    [sso_off] = await events(db, account, action="sso_settings.deleted")
    assert sso_set["changes"]["after"]["client_secret_sealed"] == REDACTED
    assert sso_set["changes"]["after"]["issuer"] == "https://idp.example.com" and sso_set["target_id"] == account
    assert sso_off["changes"]["before"]["client_secret_sealed"] == REDACTED
    assert sso_off["changes"]["after"]["client_secret_sealed"] is None

    text = await all_text(db)
    for secret in (CANARY_PROVIDER_KEY, aws_secret, smtp_password, client_secret):
        assert secret not in text


async def test_a_refused_call_is_an_access_denied_event_of_the_callers_account(admin, fake, db):
    tenant = make_tenant(admin, fake)
    person = _user(admin, tenant.account_id)
    key = admin.generate_key(tenant.account_id, user_id=person["user_id"])
    SECRETS.append(key["key"])
    ident = request_id()
    refused = call(admin, "POST", "/user/new", key=key["key"], request_id=ident, json={"user_email": "x@example.com"})
    assert refused.status_code == 403
    [event] = await events(db, tenant.account_id, action="access.denied")
    assert (event["outcome"], event["target_type"], event["target_id"], event["request_id"]) == (
        "denied", "route", "POST /user/new", ident)
    assert who(event) == ("key", key["token"], "internal_user", "127.0.0.1")
    assert event["detail"] == {"code": "role_not_permitted"}


async def test_a_change_whose_event_cannot_be_written_is_not_made(admin, fake, db):
    tenant = make_tenant(admin, fake)
    keys_before = await db.fetchval("SELECT count(*) FROM virtual_keys WHERE account_id = $1",
                                    uuid.UUID(tenant.account_id))
    await db.execute(f"REVOKE INSERT ON audit_events FROM {APP_ROLE}")
    try:
        refused = call(admin, "POST", "/key/generate", tenant.account_id, json={"key_alias": "never"})
        renamed = call(admin, "POST", "/key/update", tenant.account_id,
                       json={"key": tenant.key_id, "key_alias": "never"})
    finally:
        await db.execute(f"GRANT INSERT ON audit_events TO {APP_ROLE}")
    assert refused.status_code >= 500 and renamed.status_code >= 500
    assert "key" not in refused.json()  # no key was handed out
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE account_id = $1",
                             uuid.UUID(tenant.account_id)) == keys_before
    assert await db.fetchval("SELECT key_alias FROM virtual_keys WHERE id = $1", uuid.UUID(tenant.key_id)) is None
    # With the trail writable again, the same call works.
    assert call(admin, "POST", "/key/generate", tenant.account_id, json={"key_alias": "now"}).status_code == 200


async def test_a_full_budget_is_one_budget_blocked_event_per_period(api, admin, fake, db, services):
    tenant = make_tenant(admin, fake, max_budget=0.0000001)  # no request's worst case fits
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0, timeout=10)
    echoed = []  # the id each refusal answered with (the gateway makes a client's own id unique)
    for _ in range(3):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model=tenant.model, messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=5, extra_headers={"x-request-id": request_id()})
        assert refused.value.body["type"] == "budget_exceeded"
        echoed.append(refused.value.response.headers["x-request-id"])
    [event] = await wait_for_events(db, tenant.account_id, 1, action="budget.blocked")
    assert (event["target_type"], event["target_id"], event["outcome"], event["actor_type"]) == (
        "key", tenant.key_id, "denied", "system")
    assert event["request_id"] == echoed[0]  # the request that found the budget full
    assert event["detail"]["level"] == "key" and float(event["detail"]["max_budget"]) == pytest.approx(0.0000001)
    # A later refusal's job (queued afresh, as once the first job's result has expired) adds nothing.
    jobs = await create_job_pool(services.redis_url)
    try:
        period = int(datetime.fromisoformat(event["detail"]["period_end"]).timestamp())
        await enqueue(jobs, "record_budget_refusal", tenant.account_id, "key", tenant.key_id, period, "0",
                      event["detail"]["max_budget"], request_id(), job_id=f"test-again-{uuid.uuid4().hex}")
    finally:
        await jobs.aclose()
    assert len(await wait_for_events(db, tenant.account_id, 2, timeout=3, action="budget.blocked")) == 1


async def test_no_secret_reaches_any_event(admin, fake, db):
    """The whole trail, every event of every test so far (and of a fresh tenant, when run alone): no provider
    key, master key, virtual key (or its hash), SMTP password or client secret."""
    SECRETS.append(make_tenant(admin, fake).key)
    text = await all_text(db)
    assert CANARY_PROVIDER_KEY not in text and "model.created" in await db.fetchval(
        "SELECT string_agg(action, ' ') FROM audit_events")
    assert [secret for secret in SECRETS if secret in text] == []
