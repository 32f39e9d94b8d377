"""Closing a cooperative's books: a coop closes only with nothing of its own left in the network.

Before a coop closes, every ledger account it owns that is still open must be empty (no
posted balance, no hold): its cash, fee income and due accounts, and for the network
operator also its accounts for each coop's payments and its settlement account (members'
and merchants' wallets are closed, and so empty, before their coop may close). Then the
coop must be party, as debtor or creditor, to no obligation that is not yet settled. Either
failure is `coop_has_open_position`, checked in that order. The accounts close with the
coop, in the same transaction, so nothing posts to them afterwards (`account_closed`).

This runs under the coop's status lock (`interchange.coop_status_lock`) and row lock. A
payment that read the coop's status holds the status lock shared until it commits, so the
close waits for it and sees what it left; one that starts after waits for the close and
finds the coop closed (`coop_not_active`). The accounts are locked as payments lock them
(ascending id, `ledger.store.lock_accounts`) before anything is checked, and every payment
that gives the coop money or an obligation posts to one of them.

Which obligations are settled is settlement's knowledge, and settlement depends on the
interchange, never the reverse: the composition root hands the registry settlement's
answer as an `UnsettledObligations`. Without it, `any_obligation` counts every obligation
as unsettled, so a coop that ever owed or was owed cannot close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Select, or_, select

from interchange import tables
from interchange.registry_errors import RegistryError, RegistryErrorCode
from ledger.account import AccountStatus
from ledger.service import is_empty, set_locked_accounts_status
from ledger.store import lock_accounts
from ledger.tables import account as ledger_account

__all__ = ["UnsettledObligations", "any_obligation", "close_books", "obligations_of"]

UnsettledObligations = Callable[[Connection, int], bool]
"""True when the coop (by id) owes or is owed in a window not yet settled; it reads inside
the caller's transaction and writes nothing."""


def obligations_of(coop_id: int) -> Select[Any]:
    """The window dates of the obligations, in any window, in which the coop owes or is
    owed anything (settlement narrows it to the windows not yet settled)."""
    o = tables.obligation.c
    party = or_(o.debtor_coop_id == coop_id, o.creditor_coop_id == coop_id)
    return select(o.window_date).where(party, o.amount_minor > 0)


def any_obligation(conn: Connection, coop_id: int) -> bool:
    """True when the coop owes or is owed anything in any window, settled or not."""
    return conn.execute(obligations_of(coop_id).limit(1)).first() is not None


def close_books(
    conn: Connection, coop_id: int, unsettled: UnsettledObligations, seal_key: bytes
) -> None:
    """Close every open ledger account of the coop once it holds nothing and owes or is owed
    nothing unsettled; `coop_has_open_position` otherwise, with nothing changed."""
    a = ledger_account.c
    open_ids = select(a.id).where(a.coop_id == coop_id, a.status != AccountStatus.CLOSED.value)
    accounts = lock_accounts(conn, conn.execute(open_ids).scalars().all())
    assert all(found.coop_id == coop_id for found in accounts.values()), "the coop's own"
    if not all(is_empty(found) for found in accounts.values()):
        raise _open_position("pay out the coop's cash, fee income and dues, and end its holds")
    if unsettled(conn, coop_id):
        raise _open_position("settle every window in which the coop owes or is owed first")
    set_locked_accounts_status(conn, accounts, AccountStatus.CLOSED, seal_key=seal_key)


def _open_position(message: str) -> RegistryError:
    return RegistryError(RegistryErrorCode.COOP_HAS_OPEN_POSITION, message, field="status")
