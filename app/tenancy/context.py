"""The account a request acts in, held in a contextvar so no query can forget it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from uuid import UUID

from app.lib.errors import InvalidRequest

_current_account: ContextVar[UUID | None] = ContextVar("alchemi_account_id", default=None)


def set_current_account(account_id: UUID | None) -> None:
    _current_account.set(account_id)


def current_account() -> UUID | None:
    return _current_account.get()


@contextmanager
def acting_in(account_id: UUID) -> Iterator[None]:
    """Act inside `account_id` for a block, then return to the account before: for the few services
    that legitimately work across accounts (the super admin's /accounts, jobs). Queries in the block,
    also inside an open `DB.transaction()`, are bound to it on the database side too."""
    token = _current_account.set(account_id)
    try:
        yield
    finally:
        _current_account.reset(token)


def require_account() -> UUID:
    """The current account, or a clear 400 for a super admin who did not say which account."""
    account_id = _current_account.get()
    if account_id is None:
        raise InvalidRequest(
            "This route acts inside one account: send the x-alchemi-account-id header",
            param="x-alchemi-account-id",
            code="account_required",
        )
    return account_id
