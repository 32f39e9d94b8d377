"""Expiring holds whose timeout has passed, on both engines (sleeps about a second), a limit
out of range refused by name before anything changes, and the
audit after every way a hold or an entry can end: captured in full or in part, voided,
expired, reversed, or refused once it has ended."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from ledger.account import Account
from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import Money
from ledger.service import Ledger
from ledger.validation import BATCH_SIZE_MAX
from tests.builders import BUSINESS_DATE, code_of, idr, open_wallets, resolution, transfer


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
    for limit in (0, BATCH_SIZE_MAX + 1, True, "1"):
        with pytest.raises(LedgerError) as refused:
            ledger.expire_holds(limit=limit)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.field) == (Code.LIMIT_INVALID, "limit")
    assert ledger.account(a["ani"].id).available == idr(50), "a refused sweep changes nothing"
    assert ledger.expire_holds(limit=1) == 1
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


def _legs(debit: Account, credit: Account, amount: Money) -> tuple[Leg, ...]:
    return (Leg(debit.id, -amount), Leg(credit.id, amount))


def test_the_audit_is_intact_after_every_way_a_hold_or_an_entry_can_end(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "toko")
    ani, toko = a["ani"], a["toko"]

    def hold(entry_id: str, rupiah: int, timeout_s: int) -> EntryRequest:
        return transfer(
            entry_id, ani, toko, idr(rupiah), kind=EntryKind.PENDING, timeout_s=timeout_s
        )

    ledger.post(transfer("fund", a["cash"], ani, idr(1000)))
    ledger.post_batch(
        [
            hold("h-part", 100, 600),
            hold("h-full", 50, 600),
            hold("h-void", 70, 600),
            hold("h-expire", 30, 1),
            hold("h-part-short", 40, 1),
        ]
    )
    less = EntryRequest(
        "c-part", BUSINESS_DATE, _legs(ani, toko, idr(60)), EntryKind.POST_PENDING, "h-part"
    )
    less_short = replace(
        less, entry_id="c-part-short", target_id="h-part-short", legs=_legs(ani, toko, idr(15))
    )
    outcomes = ledger.post_batch(
        [
            less,
            less_short,
            resolution("c-full", EntryKind.POST_PENDING, "h-full"),
            resolution("v", EntryKind.VOID_PENDING, "h-void"),
            resolution("r-part", EntryKind.REVERSAL, "c-part"),
            resolution("r-fund", EntryKind.REVERSAL, "c-full"),
        ]
    )
    assert [o.code for o in outcomes] == [None] * 6
    time.sleep(1.1)
    # Only the unresolved short hold is due; the partly captured one is left alone.
    assert ledger.expire_holds() == 1
    assert ledger.expire_holds() == 0
    refusals = [
        (resolution("r-again", EntryKind.REVERSAL, "c-part"), Code.ENTRY_ALREADY_REVERSED),
        (resolution("r-undo", EntryKind.REVERSAL, "r-part"), Code.ENTRY_NOT_REVERSIBLE),
        (resolution("v-late", EntryKind.VOID_PENDING, "h-part"), Code.PENDING_ALREADY_POSTED),
        (
            resolution("e-part", EntryKind.EXPIRE_PENDING, "h-part-short"),
            Code.PENDING_ALREADY_POSTED,
        ),
        (resolution("v-exp", EntryKind.VOID_PENDING, "h-expire"), Code.PENDING_EXPIRED),
        (resolution("c-void", EntryKind.POST_PENDING, "h-void"), Code.PENDING_ALREADY_VOIDED),
    ]
    assert [code_of(ledger, r) for r, _ in refusals] == [code for _, code in refusals]
    ani_now, toko_now = ledger.account(ani.id), ledger.account(toko.id)
    assert (ani_now.posted, ani_now.available) == (idr(985), idr(985))
    assert (toko_now.posted, toko_now.pending_credit_minor) == (idr(15), 0)
    assert ledger.seal() == 1 + 5 + 6 + 1
    report = ledger.verify()
    assert report.intact, report.findings
    assert (report.sealed_entries, report.unsealed_entries) == (13, 0)
