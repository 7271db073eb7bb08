"""Invitations on the audit trail, through the real mail path (tests/tasks/test_invitations.py: an API and
worker of their own, a real SMTP server): created and revoked by the admin; accepted by the invitee, which
also records the user it creates, in the transaction that consumes the invitation."""

from __future__ import annotations

import uuid

from tests.audit.trail import actions, events, who
from tests.tasks.test_invitations import _accept, _address, _invite, _token, mail  # noqa: F401


async def test_an_invitation_is_created_revoked_or_accepted_and_the_new_user_is_recorded(mail, db):
    account_id = mail.admin.create_account(f"Invites {uuid.uuid4().hex[:6]}")
    withdrawn = _invite(mail, account_id, _address("withdrawn"))
    mail.admin.ok("POST", "/invitation/delete", account_id, json={"invitation_id": withdrawn["id"]})
    address = _address()
    invitation = _invite(mail, account_id, address, user_role="team_admin")
    [received] = mail.central.wait_to(address)
    token = _token(received)
    accepted = _accept(mail, token, password="correct horse battery staple")
    assert accepted.status_code == 200
    user_id = accepted.json()["user_id"]

    gone = await events(db, account_id, target_id=withdrawn["id"])
    assert actions(gone) == ["invitation.created", "invitation.revoked"]
    assert all(who(event)[:3] == ("master_key", None, "super_admin") for event in gone)
    assert gone[1]["changes"]["before"]["email"] == withdrawn["user_email"]

    made, taken = await events(db, account_id, target_id=invitation["id"])
    assert (made["action"], taken["action"]) == ("invitation.created", "invitation.accepted")
    assert (made["changes"]["after"]["email"], made["changes"]["after"]["role"]) == (address, "team_admin")
    assert who(taken) == ("user", user_id, "team_admin", "127.0.0.1")
    assert taken["changes"]["after"]["accepted_user_id"] == user_id and taken["detail"] == {"user_id": user_id}
    [created] = await events(db, account_id, target_id=user_id)
    assert created["action"] == "user.created" and who(created) == who(taken)
    assert created["detail"] == {"invitation_id": invitation["id"]}
    assert created["changes"]["after"]["user_email"] == address
    assert created["changes"]["after"]["password_hash"] == "[redacted]"
    # The link's token (and its hash) and the password never reach the trail.
    token_hash = await db.fetchval("SELECT token_hash FROM invitations WHERE id = $1", uuid.UUID(invitation["id"]))
    text = str(made) + str(taken) + str(created)
    assert token not in text and token_hash not in text and "correct horse" not in text
