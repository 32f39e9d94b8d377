"""Review of the ledger's write-path contract (issue 2): the documented order of checks, and
what the outcomes of a linked group say, on both engines."""

from __future__ import annotations

from dataclasses import replace

from ledger.errors import LedgerErrorCode as Code
from ledger.service import Ledger
from ledger.validation import METADATA_CHARS_MAX
from tests.builders import idr, open_wallets, transfer


def test_metadata_both_malformed_and_too_large_gets_the_code_listed_first(ledger: Ledger) -> None:
    """`LedgerErrorCode` lists the codes "in the order the checks run": metadata breaking
    both rules gets the one listed first (it listed them the other way round)."""
    a = open_wallets(ledger, "ani")
    request = replace(
        transfer("pay", a["cash"], a["ani"], idr(1)),
        metadata={"Bad_Key": "x" * (2 * METADATA_CHARS_MAX)},
    )
    (outcome,) = ledger.post_batch([request])
    listed = [Code.METADATA_INVALID, Code.METADATA_TOO_LARGE]
    assert outcome.code == min(listed, key=list(Code).index) == Code.METADATA_INVALID


def test_a_replayed_member_of_a_failed_linked_group_is_reported_as_recorded(
    ledger: Ledger,
) -> None:
    """A replay of a recorded entry inside a linked group that fails is still recorded
    (`EntryOutcome.ok`: "recorded now or by an earlier identical request"), so its outcome
    must say so instead of linked_entry_failed with no entry."""
    a = open_wallets(ledger, "ani", "budi")
    fund = transfer("fund", a["cash"], a["ani"], idr(100))
    recorded = ledger.post(fund)

    outcomes = ledger.post_linked([fund, transfer("pay", a["ani"], a["budi"], idr(500))])

    assert outcomes[1].code == Code.INSUFFICIENT_FUNDS
    assert ledger.entry("fund") == recorded
    assert ledger.account(a["ani"].id).posted == idr(100)
    replay = outcomes[0]
    assert (replay.code, replay.replayed, replay.entry) == (None, True, recorded)
