"""Zitadel provisioning on the audit trail: each user change the worker applies for a signed webhook event
is one event, acted by the system, written in the job's transaction and naming the Zitadel event; a
replayed or late event that changes nothing records nothing."""

from __future__ import annotations

import uuid

from tests.audit.trail import actions, events
from tests.auth.test_zitadel_webhook import event, org, post, processed, webhook_api, zitadel_id  # noqa: F401


async def test_a_zitadel_users_life_is_provisioned_updated_deactivated_and_removed(webhook_api, org, admin, db):
    tenant, org_id = org
    zitadel_user = zitadel_id()
    first, second = f"ada-{zitadel_user}@example.com", f"lovelace-{zitadel_user}@example.com"

    added = event(org_id, zitadel_user, 1, "user.human.added", {"email": first, "displayName": "Ada",
                                                                  "encodedHash": "$2a$14$never-stored"})
    assert post(webhook_api, added).json()["status"] == "accepted"
    await processed(db, zitadel_user)
    user_id = await db.fetchval("SELECT id FROM users WHERE user_email = $1", first)
    key = admin.generate_key(tenant.account_id, user_id=str(user_id))

    steps = [(2, "user.human.changed", {"email": second}), (3, "user.deactivated", None), (4, "user.removed", None)]
    for sequence, kind, payload in steps:
        assert post(webhook_api, event(org_id, zitadel_user, sequence, kind, payload)).status_code == 200
        await processed(db, zitadel_user, sequence)
    # Delivered again, or late: folded in, nothing changes, nothing is recorded.
    assert post(webhook_api, added).json()["status"] == "duplicate"
    late = event(org_id, zitadel_user, 0, "user.human.changed", {"email": first})
    assert post(webhook_api, late).json()["status"] == "accepted"
    await processed(db, zitadel_user, 5)

    trail = await events(db, tenant.account_id, target_id=user_id)
    assert actions(trail) == ["user.provisioned", "user.updated", "user.deactivated", "user.removed"]
    assert all((e["actor_type"], e["actor_id"], e["target_type"]) == ("system", None, "user") for e in trail)
    provisioned, updated, deactivated, removed = trail
    assert provisioned["changes"] == {"after": {"id": str(user_id), "user_email": first, "name": "Ada"}}
    assert updated["changes"] == {"before": {"user_email": first}, "after": {"user_email": second}}
    assert deactivated["detail"]["blocked_keys"] == [key["token"]]
    assert removed["changes"]["before"]["user_email"] == second and removed["detail"]["revoked_keys"] == [key["token"]]
    for sequence, happened in enumerate(trail, start=1):
        assert happened["detail"]["zitadel_sequence"] == sequence
        assert happened["detail"]["zitadel_user_id"] == zitadel_user
        assert isinstance(happened["detail"]["zitadel_event_id"], int)
    assert "never-stored" not in str(trail)
    # What the event says is what the job did: the user is gone with their key.
    assert await db.fetchval("SELECT count(*) FROM virtual_keys WHERE id = $1", uuid.UUID(key["token"])) == 0
