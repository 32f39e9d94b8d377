"""Example tests of the ledger's behaviour on both engines."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.entry import EntryKind, EntryRequest
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.service import Ledger
from tests.builders import BUSINESS_DATE, idr, open_wallets, transfer


def test_posts_a_transfer_and_updates_both_balances(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
    assert ledger.account(a["ani"].id).posted == idr(60)
    assert ledger.account(a["budi"].id).posted == idr(40)
    assert ledger.account(a["cash"].id).posted == -idr(100)


def test_refuses_a_debit_below_zero_and_records_nothing(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    with pytest.raises(LedgerError) as refused:
        ledger.post(transfer("pay", a["ani"], a["budi"], idr(1)))
    assert refused.value.code is LedgerErrorCode.INSUFFICIENT_FUNDS
    with pytest.raises(LedgerError) as missing:
        ledger.entry("pay")
    assert missing.value.code is LedgerErrorCode.ENTRY_NOT_FOUND


def test_replays_the_same_request_without_posting_twice(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani")
    first = ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    again = ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    assert again.seq == first.seq
    assert ledger.account(a["ani"].id).posted == idr(100)


def test_same_id_with_a_different_amount_is_a_conflict(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    with pytest.raises(LedgerError) as conflict:
        ledger.post(transfer("fund", a["cash"], a["ani"], idr(101)))
    assert conflict.value.code is LedgerErrorCode.EXISTS_WITH_DIFFERENT_AMOUNT
    assert conflict.value.field == "legs"


def test_a_hold_reserves_funds_until_posted_for_less(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "toko")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(
        transfer("hold", a["ani"], a["toko"], idr(70), kind=EntryKind.PENDING, timeout_s=60)
    )
    assert ledger.account(a["ani"].id).available == idr(30)
    with pytest.raises(LedgerError) as refused:
        ledger.post(transfer("other", a["ani"], a["toko"], idr(31)))
    assert refused.value.code is LedgerErrorCode.INSUFFICIENT_FUNDS
    capture = transfer("capture", a["ani"], a["toko"], idr(50), kind=EntryKind.POST_PENDING)
    ledger.post(replace(capture, target_id="hold"))
    ani = ledger.account(a["ani"].id)
    assert (ani.posted, ani.available) == (idr(50), idr(50))
    assert ledger.account(a["toko"].id).posted == idr(50)


def test_a_voided_hold_releases_everything_and_cannot_be_posted(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "toko")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(
        transfer("hold", a["ani"], a["toko"], idr(70), kind=EntryKind.PENDING, timeout_s=60)
    )
    ledger.post(EntryRequest("void", BUSINESS_DATE, kind=EntryKind.VOID_PENDING, target_id="hold"))
    assert ledger.account(a["ani"].id).available == idr(100)
    with pytest.raises(LedgerError) as refused:
        ledger.post(
            EntryRequest("late", BUSINESS_DATE, kind=EntryKind.POST_PENDING, target_id="hold")
        )
    assert refused.value.code is LedgerErrorCode.PENDING_ALREADY_VOIDED


def test_reversal_restores_balances_once(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
    ledger.post(EntryRequest("undo", BUSINESS_DATE, kind=EntryKind.REVERSAL, target_id="pay"))
    assert ledger.account(a["ani"].id).posted == idr(100)
    with pytest.raises(LedgerError) as twice:
        ledger.post(EntryRequest("undo2", BUSINESS_DATE, kind=EntryKind.REVERSAL, target_id="pay"))
    assert twice.value.code is LedgerErrorCode.ENTRY_ALREADY_REVERSED


def test_audit_of_an_untouched_ledger_is_intact(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
    assert ledger.seal() == 2
    report = ledger.verify()
    assert report.intact, report.findings
    assert (report.entries_checked, report.sealed_entries, report.unsealed_entries) == (2, 2, 0)
