"""An entry's own ceilings through the ledger's API, on both engines: a ceiling refuses
what would take its account past it, a linked group with a refused member writes nothing,
and a ceiling is a condition of recording, not part of the entry recorded."""

from __future__ import annotations

from dataclasses import replace

from ledger.entry import Ceiling
from ledger.errors import LedgerErrorCode as Code
from ledger.service import Ledger
from tests.builders import idr, open_wallets, transfer


def test_a_linked_group_whose_member_breaks_its_ceiling_writes_nothing(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi", "toko")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    first = replace(transfer("g1", a["ani"], a["budi"], idr(10)), linked=True)
    second = replace(
        transfer("g2", a["ani"], a["toko"], idr(10)), ceilings=(Ceiling(a["toko"].id, 999),)
    )
    outcomes = ledger.post_linked([first, second])
    assert [(o.code, o.account_id) for o in outcomes] == [
        (Code.LINKED_ENTRY_FAILED, None),
        (Code.BALANCE_LIMIT_EXCEEDED, a["toko"].id),
    ]
    assert [ledger.account(a[n].id).posted_minor for n in ("budi", "toko")] == [0, 0]


def test_a_recorded_entry_sent_again_replays_whatever_ceilings_the_copy_names(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    pay = transfer("p", a["ani"], a["budi"], idr(10))
    first = ledger.post(pay)
    again = ledger.post(replace(pay, ceilings=(Ceiling(a["budi"].id, 0),)))
    assert (again.entry_id, again.seq) == (first.entry_id, first.seq)
    assert ledger.account(a["budi"].id).posted_minor == 1_000


def test_a_copy_refused_by_its_ceiling_does_not_stop_a_copy_without_it(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    pay = transfer("q", a["ani"], a["budi"], idr(10))
    capped = replace(pay, ceilings=(Ceiling(a["budi"].id, 0),))
    outcomes = ledger.post_batch([capped, pay])
    assert [(o.code, o.ok) for o in outcomes] == [
        (Code.BALANCE_LIMIT_EXCEEDED, False),
        (None, True),
    ]
    assert ledger.account(a["budi"].id).posted_minor == 1_000
