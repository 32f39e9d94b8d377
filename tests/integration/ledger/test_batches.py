"""Batches on both engines: each request succeeds or fails on its own, unless linked.

Requests are evaluated in order, so a resolution or reversal before its target finds
nothing, and a refusal is not recorded: the same request is evaluated afresh later.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.service import Ledger
from ledger.validation import BATCH_SIZE_MAX
from tests.builders import BUSINESS_DATE, code_of, idr, open_wallets, resolution, transfer


def _missing(ledger: Ledger, entry_id: str) -> bool:
    with pytest.raises(LedgerError) as refused:
        ledger.entry(entry_id)
    return refused.value.code is Code.ENTRY_NOT_FOUND


def test_a_batch_records_what_it_can_and_reports_each_refusal(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    fund = transfer("fund", a["cash"], a["ani"], idr(100))
    gift = transfer("gift", a["cash"], a["budi"], idr(5))
    ledger.post(fund)
    ledger.post(gift)
    outcomes = ledger.post_batch(
        [
            transfer("ok-1", a["ani"], a["budi"], idr(30)),
            transfer("broke", a["ani"], a["budi"], idr(71)),
            transfer("ok-2", a["ani"], a["budi"], idr(70)),
            transfer("bad id", a["ani"], a["budi"], idr(1)),
            fund,
            transfer("gift", a["cash"], a["budi"], idr(6)),
            transfer("nowhere", a["cash"], replace(a["budi"], id=10**9), idr(1)),
            transfer("ok-1", a["ani"], a["budi"], idr(30)),
        ]
    )
    assert [o.code for o in outcomes] == [
        None,
        Code.INSUFFICIENT_FUNDS,
        None,
        Code.ENTRY_ID_INVALID,
        None,
        Code.EXISTS_WITH_DIFFERENT_AMOUNT,
        Code.ACCOUNT_NOT_FOUND,
        None,
    ]
    assert [o.replayed for o in outcomes] == [False] * 4 + [True] + [False] * 2 + [True]
    assert outcomes[-1].entry == outcomes[0].entry
    assert ledger.account(a["ani"].id).posted == idr(0)
    assert ledger.account(a["budi"].id).posted == idr(105)
    assert _missing(ledger, "broke") and _missing(ledger, "nowhere")
    first, second = ledger.entry("ok-1"), ledger.entry("ok-2")
    assert first.committed_at == second.committed_at
    assert ledger.verify().intact


def test_a_hold_its_capture_and_a_reversal_of_the_capture_can_share_one_batch(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "toko")
    less = (Leg(a["ani"].id, -idr(60)), Leg(a["toko"].id, idr(60)))
    outcomes = ledger.post_batch(
        [
            transfer("fund", a["cash"], a["ani"], idr(100)),
            transfer("hold", a["ani"], a["toko"], idr(80), kind=EntryKind.PENDING, timeout_s=60),
            EntryRequest("capture", BUSINESS_DATE, less, EntryKind.POST_PENDING, "hold"),
            EntryRequest("undo", BUSINESS_DATE, kind=EntryKind.REVERSAL, target_id="capture"),
        ]
    )
    assert [o.code for o in outcomes] == [None] * 4
    assert ledger.entry("capture").target_id == "hold"
    assert ledger.entry("undo").target_id == "capture"
    ani = ledger.account(a["ani"].id)
    assert (ani.posted, ani.available) == (idr(100), idr(100))
    assert ledger.account(a["toko"].id).posted == idr(0)
    assert ledger.verify().intact


def test_a_resolution_or_reversal_before_its_target_in_the_batch_finds_nothing(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "toko")
    outcomes = ledger.post_batch(
        [
            resolution("capture", EntryKind.POST_PENDING, "hold"),
            resolution("undo", EntryKind.REVERSAL, "fund"),
            transfer("fund", a["cash"], a["ani"], idr(100)),
            transfer("hold", a["ani"], a["toko"], idr(40), kind=EntryKind.PENDING, timeout_s=60),
        ]
    )
    assert [o.code for o in outcomes] == [Code.PENDING_NOT_FOUND, Code.ENTRY_NOT_FOUND, None, None]
    ani = ledger.account(a["ani"].id)
    assert (ani.posted, ani.available) == (idr(100), idr(60))
    assert ledger.account(a["toko"].id).posted == idr(0)
    # Evaluated afresh now that the targets exist: refusals were not recorded.
    later = ledger.post_batch(
        [
            resolution("capture", EntryKind.POST_PENDING, "hold"),
            resolution("undo", EntryKind.REVERSAL, "fund"),
        ]
    )
    # The capture is recorded; the reversal now meets Ani's funds (60 left of 100).
    assert [(o.code, o.replayed) for o in later] == [
        (None, False),
        (Code.INSUFFICIENT_FUNDS, False),
    ]
    assert ledger.account(a["toko"].id).posted == idr(40)


def test_a_request_refused_for_funds_is_recorded_when_replayed_after_funding(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "budi")
    pay = transfer("pay", a["ani"], a["budi"], idr(30))
    assert code_of(ledger, pay) is Code.INSUFFICIENT_FUNDS
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(30)))
    recorded = ledger.post(pay)
    assert recorded.entry_id == "pay"
    (again,) = ledger.post_batch([pay])
    assert again.ok and again.replayed and again.entry == recorded
    assert ledger.account(a["budi"].id).posted == idr(30)
    assert ledger.account(a["ani"].id).posted == idr(0)


def test_a_linked_group_that_fails_records_nothing_in_the_database(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    outcomes = ledger.post_linked(
        [
            transfer("a", a["ani"], a["budi"], idr(60)),
            transfer("b", a["ani"], a["budi"], idr(60)),
        ]
    )
    assert [o.code for o in outcomes] == [Code.LINKED_ENTRY_FAILED, Code.INSUFFICIENT_FUNDS]
    assert _missing(ledger, "a") and _missing(ledger, "b")
    assert ledger.account(a["budi"].id).posted == idr(0)
    ok = ledger.post_linked(
        [transfer("c", a["ani"], a["budi"], idr(60)), transfer("d", a["budi"], a["cash"], idr(60))]
    )
    assert [o.code for o in ok] == [None, None]


def test_a_replayed_member_of_a_failed_linked_group_is_reported_as_recorded(
    ledger: Ledger,
) -> None:
    """A replay of a recorded entry inside a linked group that fails is still recorded
    (`EntryOutcome.ok`: "recorded now or by an earlier identical request"), so its outcome
    says so: the original entry, replayed, not linked_entry_failed with no entry."""
    a = open_wallets(ledger, "ani", "budi")
    fund = transfer("fund", a["cash"], a["ani"], idr(100))
    recorded = ledger.post(fund)

    outcomes = ledger.post_linked([fund, transfer("pay", a["ani"], a["budi"], idr(500))])

    assert outcomes[1].code == Code.INSUFFICIENT_FUNDS
    assert ledger.entry("fund") == recorded
    assert ledger.account(a["ani"].id).posted == idr(100)
    replay = outcomes[0]
    assert (replay.code, replay.replayed, replay.entry) == (None, True, recorded)


def test_an_empty_or_oversized_batch_is_refused_whole(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani")
    too_many = [transfer(f"t{i}", a["cash"], a["ani"], idr(1)) for i in range(BATCH_SIZE_MAX + 1)]
    refused = {}
    for name, batch in {"empty": [], "oversized": too_many}.items():
        with pytest.raises(LedgerError) as error:
            ledger.post_batch(batch)
        refused[name] = error.value.code
    assert refused == {"empty": Code.BATCH_EMPTY, "oversized": Code.BATCH_TOO_LARGE}
    assert ledger.account(a["ani"].id).posting_count == 0
    assert ledger.post_batch(too_many[:BATCH_SIZE_MAX])[-1].ok
    assert ledger.account(a["ani"].id).posted == idr(BATCH_SIZE_MAX)


@pytest.mark.parametrize(
    ("size", "code"),
    [(0, Code.BATCH_EMPTY), (BATCH_SIZE_MAX + 1, Code.BATCH_TOO_LARGE)],
    ids=["empty", "oversized"],
)
def test_an_empty_or_oversized_linked_group_is_refused_with_a_code(
    ledger: Ledger, size: int, code: Code
) -> None:
    """`post_linked` of no request, or of more than BATCH_SIZE_MAX, is `batch_empty` /
    `batch_too_large`, as `post_batch` says, not a bare AssertionError."""
    a = open_wallets(ledger, "ani")
    group = [transfer(f"g{i}", a["cash"], a["ani"], idr(1)) for i in range(size)]
    with pytest.raises(LedgerError) as refused:
        ledger.post_linked(group)
    assert refused.value.code is code
    assert ledger.account(a["ani"].id).posting_count == 0
