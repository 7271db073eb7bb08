"""Spend logs (/spend/logs): the usage ledger of an account, newest first."""
