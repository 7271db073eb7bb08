"""Invitations into an account: the link's token is never stored, only its peppered hash."""

from piccolo.columns import UUID, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Invitation(Table, tablename="invitations"):
    id = UUID(primary_key=True)
    account_id = UUID(index=True)
    email = Varchar(length=320, help_text="Who is invited (lower-cased)")
    role = Varchar(length=32, default="internal_user", help_text="The role the user gets on acceptance")
    token_hash = Varchar(length=64, null=True, default=None, unique=True,
                         help_text="HMAC-SHA256 of the link's token; set when the email is sent")
    expires_at = Timestamptz()
    invited_by = UUID(null=True, default=None, help_text="The inviting user (NULL: the super admin)")
    invited_by_email = Varchar(length=320, null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    sent_via = Varchar(length=16, null=True, default=None, help_text="tenant | central: which SMTP server took it")
    accepted_at = Timestamptz(null=True, default=None)
    accepted_user_id = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
