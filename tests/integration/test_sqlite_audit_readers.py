"""On SQLite the audits read without the write lock, so writers go on while they run.

Every transaction of kopnet's on SQLite begins IMMEDIATE, taking the file's write lock at
once. The ledger's audit and the settlement windows' check used to as well: on a ledger
of a few hundred thousand entries the audit held the lock past the 30 s busy timeout,
and every payment and the every-minute sealer waited or failed. They now begin deferred
(`ledger.db.reading`): in WAL mode a reader takes a snapshot and no lock. Here another
connection holds the write lock for the whole check (as a long write or an operator's
`sqlite3` session would); a fresh process builds its services and both audits still
answer at once.
"""

from __future__ import annotations

import sqlite3
import time

from api.bootstrap import build
from api.settings import Settings
from interchange.payment_model import CashIn
from tests.conftest import TEST_SEAL_KEY
from tests.network import idr, network_on
from tests.races import answered_within

# Far below the busy timeout (30 s) a reader that wanted the write lock would wait out.
_ANSWERED_WITHIN_S = 10.0


def test_the_audits_answer_while_another_connection_holds_the_write_lock(
    sqlite_url: str,
) -> None:
    settings = Settings(database_url=sqlite_url, seal_key=TEST_SEAL_KEY.decode())
    with network_on(sqlite_url) as net:
        ksa = net.add_coop("KSA")
        ani = net.add_member("ani", ksa)
        net.services.payments.pay(CashIn("fund", ani.id, ksa.id, idr(50_000)))
        net.services.ledger.seal()
        holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            # A fresh process's audit: its services are built (the schema and the sealing
            # key checked) with the lock held too.
            fresh = answered_within(_ANSWERED_WITHIN_S, lambda: build(settings))
            assert not isinstance(fresh, Exception), fresh
            try:
                report = answered_within(_ANSWERED_WITHIN_S, fresh.ledger.verify)
                checks = answered_within(_ANSWERED_WITHIN_S, fresh.settlement.verify)
            finally:
                fresh.close()
            elapsed_s = time.monotonic() - started
        finally:
            holder.rollback()
            holder.close()
    assert not isinstance(report, Exception) and report.intact, report
    assert checks == []
    assert elapsed_s < _ANSWERED_WITHIN_S
