"""An entry that commits after the every-minute sealer's late window is sealed by a full
scan, and by `kopnet audit verify`'s sealing, never left outside the chain (PostgreSQL,
where writers draw entry numbers from a sequence and can commit out of order).

The late commit is staged with the sequence: entries numbered 1 and 300,002 are sealed,
then the sequence is set back and an entry takes number 11, as one whose transaction drew
it long before and committed only now. It is 299,991 below the newest sealed, past
`LATE_WINDOW_SEQS`.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import func, select, text

from ledger.sealing import LATE_WINDOW_SEQS, SEAL_LOCK_KEY
from ledger.service import Ledger
from ledger.tables import chain, entry
from tests.builders import idr, open_wallets, transfer
from tests.cli import audit_verify_json

pytestmark = pytest.mark.postgres


def _unsealed(ledger: Ledger) -> list[int]:
    sealed = select(chain.c.entry_seq)
    with ledger.engine.connect() as conn:
        query = select(entry.c.seq).where(entry.c.seq.not_in(sealed)).order_by(entry.c.seq)
        return list(conn.execute(query).scalars())


def _stage_a_late_entry(ledger: Ledger) -> int:
    """Seal entries 1 and 300,002, then record one numbered 11; return its number."""
    a = open_wallets(ledger, "ani")
    with ledger.engine.begin() as conn:
        conn.execute(text("SELECT setval('ledger_entry_seq', 1, false)"))
    ledger.post(transfer("early", a["cash"], a["ani"], idr(1)))
    with ledger.engine.begin() as conn:
        conn.execute(text("SELECT setval('ledger_entry_seq', 300001, true)"))
    ledger.post(transfer("newest", a["cash"], a["ani"], idr(2)))
    assert ledger.seal() == 2
    with ledger.engine.begin() as conn:
        conn.execute(text("SELECT setval('ledger_entry_seq', 10, true)"))
    late = ledger.post(transfer("late", a["cash"], a["ani"], idr(3)))
    with ledger.engine.connect() as conn:
        newest = conn.execute(select(func.max(chain.c.entry_seq))).scalar_one()
    assert newest - late.seq > LATE_WINDOW_SEQS
    return late.seq


def test_the_late_window_misses_it_and_a_full_scan_seals_it(pg_ledger: Ledger) -> None:
    late = _stage_a_late_entry(pg_ledger)
    assert pg_ledger.seal() == 0
    assert _unsealed(pg_ledger) == [late]
    assert pg_ledger.seal(full_scan=True) == 1
    assert _unsealed(pg_ledger) == []
    report = pg_ledger.verify()
    assert report.intact and report.unsealed_entries == 0, report.findings


def test_audit_verify_seals_it_before_checking(pg_ledger: Ledger, pg_url: str) -> None:
    """It used to seal the late window only, and report the ledger intact with the entry
    outside the chain."""
    _stage_a_late_entry(pg_ledger)
    status, report = audit_verify_json(pg_url)
    assert status == 0, report
    assert (report["unsealed_entries"], report["sealed_entries"]) == (0, 3)


def test_a_full_scan_waits_for_another_sealer_rather_than_skip(
    pg_ledger: Ledger, pg_url: str
) -> None:
    """The every-minute sealer holds the sealers' lock: the nightly full scan waits for it
    and then seals the late entry (it used to try the lock, and seal nothing)."""
    late = _stage_a_late_entry(pg_ledger)
    sealed: list[int] = []
    with psycopg.connect(pg_url) as other_sealer:
        other_sealer.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        scan = threading.Thread(target=lambda: sealed.append(pg_ledger.seal(full_scan=True)))
        scan.start()
        scan.join(0.5)
        assert scan.is_alive(), "the full scan did not wait for the other sealer"
        other_sealer.rollback()
    scan.join(10)
    assert sealed == [1] and late not in _unsealed(pg_ledger)
