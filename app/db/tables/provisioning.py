"""Zitadel provisioning: every signed webhook event received, and the link from a Zitadel user to ours."""

from piccolo.columns import JSONB, UUID, BigInt, BigSerial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class ProvisioningEvent(Table, tablename="provisioning_events"):
    """One Zitadel event, unique on (instance_id, aggregate_id, sequence): a replay finds its row.

    Not tenant-owned: it is written before (and whether or not) the Zitadel org maps to an account."""

    id = BigSerial(primary_key=True)
    instance_id = Varchar(length=64, help_text="Zitadel instance (instanceID)")
    aggregate_id = Varchar(length=64, help_text="The Zitadel user the event is about (aggregateID)")
    sequence = BigInt(help_text="The event's position in its aggregate's history")
    event_type = Varchar(length=100)
    resource_owner = Varchar(length=64, help_text="Zitadel org id (resourceOwner): picks the account")
    profile = JSONB(default={}, help_text="Only the fields we use (email, name), never the whole payload")
    occurred_at = Timestamptz(null=True, default=None, help_text="created_at of the event in Zitadel")
    received_at = Timestamptz(default=TimestamptzNow())
    status = Varchar(length=16, default="pending", help_text="pending | applied | ignored")
    detail = Varchar(length=64, null=True, default=None, help_text="Why ignored, or what applying did")
    processed_at = Timestamptz(null=True, default=None)


class ZitadelUser(Table, tablename="zitadel_users"):
    """A Zitadel user of a mapped org and the user it became here (NULL once removed: a tombstone
    that keeps late, older events from bringing the user back)."""

    id = BigSerial(primary_key=True)
    account_id = UUID(index=True)
    instance_id = Varchar(length=64)
    zitadel_user_id = Varchar(length=64)
    user_id = UUID(null=True, default=None, index=True)
    state = Varchar(length=16, default="unknown", help_text="unknown | active | deactivated | removed")
    last_sequence = BigInt(default=0, help_text="Highest event sequence folded into this user")
    updated_at = Timestamptz(default=TimestamptzNow())
