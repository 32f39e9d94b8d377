"""Builders that keep ledger tests readable: accounts by name, amounts in rupiah, requests
by target, a sealed history, and the code a request is refused with."""

from __future__ import annotations

from datetime import date

from ledger.account import Account, AccountKind, AccountSpec
from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.money import Money
from ledger.service import Ledger

__all__ = [
    "BUSINESS_DATE",
    "audited_three_wallets",
    "code_of",
    "idr",
    "open_wallets",
    "post_sealed",
    "resolution",
    "transfer",
]

BUSINESS_DATE = date(2026, 11, 23)


def audited_three_wallets(ledger: Ledger) -> dict[str, Account]:
    """The audit tests' ledger, sealed and found intact (rupiah):
    fund cash -> ani 100, pay ani -> budi 40, top-up cash -> citra 10."""
    a = open_wallets(ledger, "ani", "budi", "citra")
    return post_sealed(
        ledger,
        a,
        transfer("fund", a["cash"], a["ani"], idr(100)),
        transfer("pay", a["ani"], a["budi"], idr(40)),
        transfer("top-up", a["cash"], a["citra"], idr(10)),
    )


def audited_three_wallets_and_dewi(ledger: Ledger) -> dict[str, Account]:
    """`audited_three_wallets`'s ledger, and dewi, an empty wallet of the same cooperative
    (the account history tests')."""
    opened = audited_three_wallets(ledger)
    return {**opened, "dewi": open_wallets(ledger, "dewi", coop_id=1)["dewi"]}


def audited_wallets_with_holds(ledger: Ledger) -> dict[str, Account]:
    """The stored-value audit tests' ledger, sealed and found intact (rupiah): fund cash ->
    ani 100, pay ani -> budi 40, a hold ani -> budi 10 left open, and one of 5 voided."""
    a = open_wallets(ledger, "ani", "budi")
    pending = EntryKind.PENDING
    return post_sealed(
        ledger,
        a,
        transfer("fund", a["cash"], a["ani"], idr(100)),
        transfer("pay", a["ani"], a["budi"], idr(40)),
        transfer("hold", a["ani"], a["budi"], idr(10), kind=pending, timeout_s=600),
        transfer("keep", a["ani"], a["budi"], idr(5), kind=pending, timeout_s=600),
        resolution("void", EntryKind.VOID_PENDING, "keep"),
    )


def idr(rupiah: int) -> Money:
    """Whole rupiah as IDR money (exponent 2)."""
    return Money(rupiah * 100, "IDR")


def open_wallets(
    ledger: Ledger, *names: str, coop_id: int = 1, kind: AccountKind = AccountKind.MEMBER_WALLET
) -> dict[str, Account]:
    """Open one IDR account per name, plus an unlimited `cash` account for funding."""
    accounts = {
        "cash": ledger.open_account(
            AccountSpec(f"c{coop_id}:cash", coop_id, "IDR", AccountKind.COOP_CASH, None)
        )
    }
    for name in names:
        accounts[name] = ledger.open_account(
            AccountSpec(f"c{coop_id}:{name}", coop_id, "IDR", kind)
        )
    return accounts


def post_sealed(
    ledger: Ledger, accounts: dict[str, Account], *requests: EntryRequest
) -> dict[str, Account]:
    """Post `requests` and seal them, the audit finding the ledger intact; return `accounts`
    read again, as they stand afterwards."""
    for request in requests:
        ledger.post(request)
    assert ledger.seal() == len(requests)
    report = ledger.verify()
    assert report.intact, report.findings
    return {name: ledger.account(account.id) for name, account in accounts.items()}


def transfer(
    entry_id: str,
    debit: Account,
    credit: Account,
    amount: Money,
    *,
    kind: EntryKind = EntryKind.POSTED,
    timeout_s: int | None = None,
    linked: bool = False,
) -> EntryRequest:
    """A two-leg request moving `amount` from `debit` to `credit`."""
    return EntryRequest(
        entry_id=entry_id,
        business_date=BUSINESS_DATE,
        legs=(Leg(debit.id, -amount), Leg(credit.id, amount)),
        kind=kind,
        timeout_s=timeout_s,
        linked=linked,
    )


def resolution(entry_id: str, kind: EntryKind, target_id: str) -> EntryRequest:
    """A request with no legs that resolves `target_id`: a capture, void, expiry or reversal."""
    return EntryRequest(entry_id, BUSINESS_DATE, kind=kind, target_id=target_id)


def code_of(ledger: Ledger, request: EntryRequest) -> LedgerErrorCode | None:
    """Post `request`; the code it is refused with, or None once it is recorded."""
    try:
        ledger.post(request)
    except LedgerError as error:
        return error.code
    return None
