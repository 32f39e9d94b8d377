"""Replays of entries recorded before a stricter rule: the same id with the same request
returns the original outcome whatever rules came since."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import validation as ledger_validation
from ledger.account import AccountKind, AccountSpec
from ledger.entry import EntryRequest, Leg
from ledger.money import Money
from ledger.service import Ledger

BUSINESS_DATE = date(2026, 1, 5)
INT_BEYOND_64_BITS = 2**64


def _two_accounts(ledger: Ledger) -> tuple[Leg, Leg]:
    a = ledger.open_account(AccountSpec("review-a", 1, "IDR", AccountKind.SETTLEMENT, None))
    b = ledger.open_account(AccountSpec("review-b", 1, "IDR", AccountKind.SETTLEMENT, None))
    return Leg(a.id, Money(-500, "IDR")), Leg(b.id, Money(500, "IDR"))


def test_an_entry_id_starting_expire_recorded_before_the_rule_replays(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller's entry recorded under an `expire-` id before that prefix became the
    sweeper's (recorded here with the rule patched out) still replays: the rule is checked
    only for entries not yet recorded (`require_new_entry_id`)."""
    request = EntryRequest("expire-order-17", BUSINESS_DATE, _two_accounts(ledger))
    with monkeypatch.context() as before_the_change:
        before_the_change.setattr(ledger_validation, "EXPIRY_ID_PREFIX", "\x00")
        (first,) = ledger.post_batch([request])
    assert first.ok, first

    (replay,) = ledger.post_batch([request])

    assert (replay.code, replay.replayed) == (None, True)


def test_an_entry_with_a_metadata_integer_beyond_64_bits_is_recorded_and_replays(
    ledger: Ledger,
) -> None:
    """Metadata is stored as JSON text, so an integer beyond 64 bits is recorded, and its
    replay returns the original (only an integer Python cannot render is refused)."""
    request = EntryRequest(
        "big-reference-1",
        BUSINESS_DATE,
        _two_accounts(ledger),
        metadata={"external_ref": INT_BEYOND_64_BITS},
    )
    (first,) = ledger.post_batch([request])
    assert first.ok, first

    (replay,) = ledger.post_batch([request])

    assert (replay.code, replay.replayed) == (None, True)
