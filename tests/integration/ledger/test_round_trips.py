"""On PostgreSQL the ledger posts a batch in two pipelines, its read phase and its writes
sent with the COMMIT, whatever the batch holds: a capture, a void or a reversal brings its
target entry, and locks the target's accounts, in the read phase's trip. No statement
goes through SQLAlchemy, where each would be a round trip of its own (`tests.statements`).
"""

from __future__ import annotations

import pytest

from ledger.entry import EntryKind, EntryRequest
from ledger.service import Ledger
from tests.builders import idr, open_wallets, resolution, transfer
from tests.statements import statements_sent_by

pytestmark = pytest.mark.postgres

_LEDGER = frozenset({"ledger"})


def _post_and_list_statements(ledger: Ledger, request: EntryRequest) -> list[str]:
    with statements_sent_by(ledger.engine, _LEDGER) as seen:
        ledger.post(request)
    return seen


@pytest.mark.parametrize("kind", [EntryKind.POST_PENDING, EntryKind.VOID_PENDING])
def test_a_hold_is_resolved_in_two_trips(pg_ledger: Ledger, kind: EntryKind) -> None:
    a = open_wallets(pg_ledger, "ani", "toko")
    pg_ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    hold = transfer("hold", a["ani"], a["toko"], idr(30), kind=EntryKind.PENDING, timeout_s=600)
    pg_ledger.post(hold)

    assert _post_and_list_statements(pg_ledger, resolution("end", kind, "hold")) == []
    posted = 3_000 if kind is EntryKind.POST_PENDING else 0
    toko = pg_ledger.account(a["toko"].id)
    assert (toko.posted_minor, toko.pending_credit_minor) == (posted, 0)
    assert pg_ledger.account(a["ani"].id).available == idr(100) - idr(30 if posted else 0)


def test_a_reversal_and_its_replay_are_posted_in_two_trips(pg_ledger: Ledger) -> None:
    a = open_wallets(pg_ledger, "ani", "toko")
    pg_ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    pg_ledger.post(transfer("buy", a["ani"], a["toko"], idr(30)))
    reversal = resolution("undo", EntryKind.REVERSAL, "buy")

    assert _post_and_list_statements(pg_ledger, reversal) == []
    assert _post_and_list_statements(pg_ledger, reversal) == []
    assert pg_ledger.account(a["ani"].id).posted == idr(100)
    assert pg_ledger.account(a["toko"].id).posted == idr(0)
    assert pg_ledger.verify().intact
