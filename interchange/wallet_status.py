"""A member's or merchant's wallets follow its status: the ledger side of a status change.

`suspended` freezes the wallets, `active` unfreezes them, `closed` is final and needs
every wallet empty (no posted balance, no hold). Wallets are frozen before they are
checked, so no money arrives between the check and the close; if one is not empty, they
go back to the status they had and the change is `wallet_not_empty`.
"""

from __future__ import annotations

from collections.abc import Sequence

from interchange.coop_closing import is_empty
from interchange.registry_errors import RegistryError, RegistryErrorCode
from interchange.registry_model import ParticipantStatus
from interchange.registry_store import check_transition
from ledger.account import AccountStatus
from ledger.service import Ledger

__all__ = ["LEDGER_STATUS", "apply_wallet_status"]

LEDGER_STATUS = {
    ParticipantStatus.ACTIVE: AccountStatus.ACTIVE,
    ParticipantStatus.SUSPENDED: AccountStatus.FROZEN,
    ParticipantStatus.CLOSED: AccountStatus.CLOSED,
}


def apply_wallet_status(
    ledger: Ledger, current: ParticipantStatus, new: ParticipantStatus, account_ids: Sequence[int]
) -> bool:
    """Bring the wallets to `new`; return False when there is nothing left to change."""
    check_transition(current, new)
    if current is ParticipantStatus.CLOSED:
        return False
    if new is ParticipantStatus.CLOSED:
        _close_wallets(ledger, account_ids, LEDGER_STATUS[current])
        return True
    # Applied even when the status is unchanged, so a repeat heals a half-done change.
    for account_id in account_ids:
        ledger.set_account_status(account_id, LEDGER_STATUS[new])
    return True


def _close_wallets(ledger: Ledger, account_ids: Sequence[int], restore: AccountStatus) -> None:
    # Freeze first so no money arrives between the check and the close.
    for account_id in account_ids:
        ledger.set_account_status(account_id, AccountStatus.FROZEN)
    if not all(is_empty(ledger.account(i)) for i in account_ids):
        for account_id in account_ids:
            ledger.set_account_status(account_id, restore)
        raise RegistryError(
            RegistryErrorCode.WALLET_NOT_EMPTY,
            "pay out every wallet and settle its holds before closing",
        )
    for account_id in account_ids:
        ledger.set_account_status(account_id, AccountStatus.CLOSED)
