"""SQL of provisioning. It runs outside any request's account (the webhook is signed by Zitadel,
the job runs in a worker): every statement on a tenant table names its account explicitly, and the job
binds that account to its transaction first (row-level security). provisioning_events and accounts
are not tenant-owned."""

RECORD_EVENT = """
INSERT INTO provisioning_events (instance_id, aggregate_id, sequence, event_type, resource_owner, profile,
                                 occurred_at, received_at, status)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, now(), 'pending')
ON CONFLICT (instance_id, aggregate_id, sequence) DO NOTHING
RETURNING id
"""

EVENT_BY_KEY = """
SELECT id, status FROM provisioning_events WHERE instance_id = $1 AND aggregate_id = $2 AND sequence = $3
"""

LOCK_EVENT = "SELECT * FROM provisioning_events WHERE id = $1 FOR UPDATE"

FINISH_EVENT = "UPDATE provisioning_events SET status = $2, detail = $3, processed_at = now() WHERE id = $1"

ACCOUNT_OF_ORG = "SELECT id FROM accounts WHERE zitadel_org_id = $1 AND deleted_at IS NULL"

ENSURE_LINK = """
INSERT INTO zitadel_users (account_id, instance_id, zitadel_user_id, state, last_sequence, updated_at)
VALUES ($1, $2, $3, 'unknown', 0, now())
ON CONFLICT (instance_id, zitadel_user_id) DO NOTHING
"""

LOCK_LINK = "SELECT * FROM zitadel_users WHERE instance_id = $1 AND zitadel_user_id = $2 FOR UPDATE"

UPDATE_LINK = """
UPDATE zitadel_users SET user_id = $2, state = $3, last_sequence = GREATEST(last_sequence, $4), updated_at = now()
WHERE id = $1
"""

# Everything Zitadel told us about this user, oldest first: the user's state is their fold.
HISTORY = """
SELECT sequence, event_type, profile FROM provisioning_events
WHERE instance_id = $1 AND aggregate_id = $2 AND status <> 'ignored'
ORDER BY sequence
"""

USER_BY_ID = "SELECT id, user_email, metadata FROM users WHERE id = $1 AND account_id = $2"

USER_BY_EMAIL = "SELECT id, user_email, metadata FROM users WHERE account_id = $1 AND lower(user_email) = $2"

INSERT_USER = """
INSERT INTO users (account_id, user_email, user_role, metadata, created_at, updated_at)
VALUES ($1, $2, 'internal_user', $3::jsonb, now(), now())
RETURNING id
"""

UPDATE_USER_EMAIL = "UPDATE users SET user_email = $3, updated_at = now() WHERE id = $1 AND account_id = $2"

UPDATE_USER_NAME = """
UPDATE users SET metadata = COALESCE(metadata, '{}'::jsonb) || jsonb_build_object('name', $3::text), updated_at = now()
WHERE id = $1 AND account_id = $2
"""

BLOCK_KEYS = """
UPDATE virtual_keys SET blocked = true, updated_at = now()
WHERE account_id = $1 AND user_id = $2 AND NOT blocked
RETURNING id, key_hash
"""

DELETE_KEYS = "DELETE FROM virtual_keys WHERE account_id = $1 AND user_id = $2 RETURNING id, key_hash"

DELETE_MEMBERSHIPS = "DELETE FROM team_memberships WHERE account_id = $1 AND user_id = $2"

DELETE_USER = "DELETE FROM users WHERE account_id = $1 AND id = $2"

PENDING_EVENTS = """
SELECT id FROM provisioning_events
WHERE status = 'pending' AND received_at < now() - make_interval(secs => $1)
ORDER BY id LIMIT 500
"""
