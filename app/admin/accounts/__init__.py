"""Accounts (tenants): super admin only."""
