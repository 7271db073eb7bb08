"""The account's routing settings (/router/settings)."""
