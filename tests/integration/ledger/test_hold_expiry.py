"""Expiring holds whose timeout has passed, on both engines (sleeps about a second)."""

from __future__ import annotations

import time

import pytest

from ledger.entry import EntryKind, EntryRequest
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.service import Ledger
from tests.builders import BUSINESS_DATE, idr, open_wallets, transfer


def _resolve(ledger: Ledger, entry_id: str, kind: EntryKind, target_id: str) -> Code:
    with pytest.raises(LedgerError) as refused:
        ledger.post(EntryRequest(entry_id, BUSINESS_DATE, kind=kind, target_id=target_id))
    return refused.value.code


def test_expire_holds_releases_only_holds_whose_timeout_has_passed(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "toko")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(
        transfer("short", a["ani"], a["toko"], idr(30), kind=EntryKind.PENDING, timeout_s=1)
    )
    ledger.post(
        transfer("long", a["ani"], a["toko"], idr(20), kind=EntryKind.PENDING, timeout_s=600)
    )
    assert ledger.expire_holds() == 0
    assert ledger.account(a["ani"].id).available == idr(50)

    time.sleep(1.1)
    assert ledger.expire_holds() == 1
    ani, toko = ledger.account(a["ani"].id), ledger.account(a["toko"].id)
    assert (ani.posted, ani.available, ani.pending_debit_minor) == (idr(100), idr(80), 2000)
    assert (toko.posted, toko.pending_credit_minor) == (idr(0), 2000)
    assert ledger.expire_holds() == 0

    assert _resolve(ledger, "capture", EntryKind.POST_PENDING, "short") is Code.PENDING_EXPIRED
    assert _resolve(ledger, "void", EntryKind.VOID_PENDING, "short") is Code.PENDING_EXPIRED
    ledger.post(
        EntryRequest("capture-long", BUSINESS_DATE, kind=EntryKind.POST_PENDING, target_id="long")
    )
    assert ledger.account(a["toko"].id).posted == idr(20)
    assert ledger.verify().intact


def test_an_expired_hold_that_nobody_swept_cannot_be_posted(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "toko")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("hold", a["ani"], a["toko"], idr(30), kind=EntryKind.PENDING, timeout_s=1))
    assert _resolve(ledger, "early", EntryKind.EXPIRE_PENDING, "hold") is Code.PENDING_NOT_EXPIRED
    time.sleep(1.1)
    assert _resolve(ledger, "capture", EntryKind.POST_PENDING, "hold") is Code.PENDING_EXPIRED
    # The caller may record the expiry itself; the sweeper then finds nothing to do.
    ledger.post(
        EntryRequest("expire", BUSINESS_DATE, kind=EntryKind.EXPIRE_PENDING, target_id="hold")
    )
    assert ledger.expire_holds() == 0
    assert ledger.account(a["ani"].id).available == idr(100)
