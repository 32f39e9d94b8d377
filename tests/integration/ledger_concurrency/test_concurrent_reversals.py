"""Two reversals of one entry racing from two ledger services over one engine.

Each entry is reversed exactly once: one reversal is recorded, the other is refused with
`entry_already_reversed`, and the balances are back where they were before the entry.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.entry import EntryKind
from ledger.errors import LedgerErrorCode as Code
from ledger.service import Ledger
from tests.builders import code_of, idr, open_wallets, resolution, transfer
from tests.integration.ledger_concurrency.harness import ledgers_sharing, run_each_together

pytestmark = pytest.mark.postgres


def _reverser(ledger: Ledger, entry_id: str, target_id: str) -> Callable[[], Code | None]:
    return lambda: code_of(ledger, resolution(entry_id, EntryKind.REVERSAL, target_id))


def test_two_reversals_of_one_entry_from_two_threads_reverse_it_once(pg_url: str) -> None:
    with ledgers_sharing(pg_url, 2) as services:
        first = services[0]
        a = open_wallets(first, "ani", "budi")
        rounds = 12
        first.post_batch(
            [transfer(f"pay-{i}", a["cash"], a["ani"], idr(10)) for i in range(rounds)]
        )
        for i in range(rounds):
            got = run_each_together(
                [
                    _reverser(service, f"undo-{i}-{k}", f"pay-{i}")
                    for k, service in enumerate(services)
                ]
            )
            assert sorted(got, key=str) == sorted([None, Code.ENTRY_ALREADY_REVERSED], key=str)
        ani = first.account(a["ani"].id)
        assert (ani.posted, ani.posting_count) == (idr(0), 2 * rounds)
        assert first.account(a["cash"].id).posted == idr(0)
        assert first.verify().intact
