"""A member's or merchant's wallets follow its status: the ledger side of a status change.

`suspended` freezes the wallets, `active` unfreezes them, `closed` is final and needs
every wallet empty (no posted balance, no hold), else the change is `wallet_not_empty`.
It runs in the status change's transaction: the wallets are locked before they are
checked, so no money arrives between the check and the close, and a refused change
leaves every wallet as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from interchange.registry_errors import RegistryError, RegistryErrorCode
from interchange.registry_model import ParticipantStatus
from interchange.registry_store import check_transition
from ledger.account import AccountStatus
from ledger.service import is_empty, set_locked_accounts_status
from ledger.store import lock_accounts

__all__ = ["LEDGER_STATUS", "apply_wallet_status"]

LEDGER_STATUS = {
    ParticipantStatus.ACTIVE: AccountStatus.ACTIVE,
    ParticipantStatus.SUSPENDED: AccountStatus.FROZEN,
    ParticipantStatus.CLOSED: AccountStatus.CLOSED,
}


def apply_wallet_status(
    conn: Connection,
    current: ParticipantStatus,
    new: ParticipantStatus,
    account_ids: Sequence[int],
    seal_key: bytes,
) -> bool:
    """Bring the wallets to `new` in the caller's transaction; return False when there is
    nothing left to change (the participant is closed already)."""
    check_transition(current, new)
    if current is ParticipantStatus.CLOSED:
        return False
    wallets = lock_accounts(conn, account_ids)
    if new is ParticipantStatus.CLOSED and not all(map(is_empty, wallets.values())):
        raise RegistryError(
            RegistryErrorCode.WALLET_NOT_EMPTY,
            "pay out every wallet and settle its holds before closing",
        )
    set_locked_accounts_status(conn, wallets, LEDGER_STATUS[new], seal_key=seal_key)
    return True
