"""On PostgreSQL the ledger posts a batch in two round trips, each one pipeline: its read
phase, led by the transaction's BEGIN, and its writes sent with the COMMIT, whatever the
batch holds: a capture, a void or a reversal brings its
target entry, and locks the target's accounts, in the read phase's trip. No statement
goes through SQLAlchemy, where each would be a round trip of its own (`tests.statements`).
A target committed while the batch waits for its lock is not found, as before the lock.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger.entry import EntryKind, EntryOutcome, EntryRequest
from ledger.errors import LedgerErrorCode
from ledger.posting import post_entries
from ledger.service import Ledger
from tests.builders import idr, open_wallets, resolution, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.races import wait_until_a_session_waits_for_a_lock
from tests.statements import round_trips_through, statements_sent_by

pytestmark = pytest.mark.postgres

_LEDGER = frozenset({"ledger"})
VOID = EntryKind.VOID_PENDING


def _post_and_list_statements(ledger: Ledger, request: EntryRequest) -> list[str]:
    with statements_sent_by(ledger.engine, _LEDGER) as seen:
        ledger.post(request)
    return seen


def test_a_batch_begins_reads_writes_and_commits_in_two_round_trips(pg_ledger: Ledger) -> None:
    a = open_wallets(pg_ledger, "ani", "toko")
    pg_ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    with round_trips_through(pg_ledger.engine) as trips:
        pg_ledger.post_batch([transfer("buy", a["ani"], a["toko"], idr(30))])
        pg_ledger.post(transfer("tip", a["ani"], a["toko"], idr(5)))
    assert trips == [2, 2]
    assert pg_ledger.account(a["toko"].id).posted == idr(35)


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


def test_a_hold_committed_while_its_void_waits_for_the_lock_is_not_found(
    pg_ledger: Ledger,
) -> None:
    """The lock statement looks up the hold's accounts as the database stood when it began;
    the entries, read after it, see the hold. The void is refused as `pending_not_found`,
    as when the hold was looked up before the lock, not with an account the lock did not
    take reported missing; the transfer beside it is posted."""
    a = open_wallets(pg_ledger, "ani", "toko")
    pg_ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    engine = pg_ledger.engine
    hold = transfer("hold", a["ani"], a["toko"], idr(30), kind=EntryKind.PENDING, timeout_s=600)

    def void_beside_a_transfer() -> tuple[EntryOutcome, ...]:
        with engine.begin() as conn:
            batch = [
                transfer("top-up", a["cash"], a["ani"], idr(1)),
                resolution("void", VOID, "hold"),
            ]
            return post_entries(conn, batch, seal_key=TEST_SEAL_KEY)

    # Leaving the block commits the hold while the void's batch waits for the lock of ani,
    # then waits for that batch.
    with ThreadPoolExecutor(max_workers=1) as other, engine.begin() as conn:
        post_entries(conn, [hold], seal_key=TEST_SEAL_KEY)
        rival = other.submit(void_beside_a_transfer)
        wait_until_a_session_waits_for_a_lock(engine)
    top_up, void = rival.result(timeout=30)

    assert top_up.ok
    assert void.code == LedgerErrorCode.PENDING_NOT_FOUND
    assert pg_ledger.account(a["toko"].id).pending_credit_minor == 3_000


def test_the_listener_sees_what_the_ledger_sends_through_sqlalchemy(pg_ledger: Ledger) -> None:
    """The other tests here find no statement; this one shows the listener would: an
    account look-up goes through SQLAlchemy, one statement."""
    a = open_wallets(pg_ledger, "ani")
    with statements_sent_by(pg_ledger.engine, _LEDGER) as seen:
        pg_ledger.account(a["ani"].id)
    assert len(seen) == 1 and "ledger_account" in seen[0]
