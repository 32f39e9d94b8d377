"""A review of the ledger's reads (balances, statements) and its holds, on both engines.

Only tests that show a promise broken are kept here; what was checked and found correct is
listed in the review's report.
"""

from __future__ import annotations

from ledger.account import Account, AccountKind, AccountSpec
from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.service import Ledger
from tests.builders import BUSINESS_DATE


def _unlimited(ledger: Ledger, ref: str) -> Account:
    return ledger.open_account(AccountSpec(ref, 1, "IDR", AccountKind.SUSPENSE, None))


def _move(
    entry_id: str, debit: Account, credit: Account, amount_minor: int, *, hold: bool = False
) -> EntryRequest:
    amount = Money(amount_minor, "IDR")
    return EntryRequest(
        entry_id,
        BUSINESS_DATE,
        (Leg(debit.id, -amount), Leg(credit.id, amount)),
        kind=EntryKind.PENDING if hold else EntryKind.POSTED,
        timeout_s=600 if hold else None,
    )


def _unreadable_balances(ledger: Ledger, accounts: list[Account]) -> dict[str, str]:
    """Each account's posted, available and pending balance that cannot be read back."""
    failures: dict[str, str] = {}
    for opened in accounts:
        current = ledger.account(opened.id)
        for name in ("posted", "available", "pending"):
            try:
                getattr(current, name)
            except LedgerError as error:
                failures[f"{opened.ref}.{name}"] = error.code.value
    return failures


def test_every_balance_of_an_account_with_holds_reads_back(ledger: Ledger) -> None:
    """README: accounts are held within 10^15 minor units "so every balance reads back". An
    unlimited account that paid out Rp5 trillion accepts holds crediting it Rp15 trillion,
    and its pending balance then raises `amount_too_large` instead of reading back."""
    payer, till, source = (_unlimited(ledger, ref) for ref in ("payer", "till", "source"))
    half = AMOUNT_MINOR_MAX // 2
    ledger.post(_move("pay-out", till, payer, half))
    outcomes = ledger.post_batch(
        [
            _move("hold-1", source, till, AMOUNT_MINOR_MAX, hold=True),
            _move("hold-2", payer, till, half, hold=True),
        ]
    )
    recorded = [o.entry_id for o in outcomes if o.ok]
    unreadable = _unreadable_balances(ledger, [payer, till, source])
    assert unreadable == {}, f"recorded {recorded}; balances that do not read: {unreadable}"
