"""Spend of an account: the usage ledger request by request, daily reports, the caller's summary."""
