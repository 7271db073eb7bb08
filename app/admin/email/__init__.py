"""/email/smtp: the account's own SMTP server for its email (used when EMAIL_MODE=tenant_first)."""
