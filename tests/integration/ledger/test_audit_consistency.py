"""An audit of a live ledger reads one consistent moment (PostgreSQL).

`Ledger.verify()` runs several queries (entries, postings, chain, running balances, open
holds, accounts). On SQLite its connection holds the database lock throughout; on
PostgreSQL nothing stops an entry from committing between two of those queries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from ledger.service import Ledger
from tests.builders import idr, open_wallets, transfer


def test_an_entry_posted_while_the_audit_runs_is_not_reported_as_tampering(
    pg_ledger: Ledger,
) -> None:
    """Pinned defect: ledger/service.py `verify` audits at READ COMMITTED, so each query of
    ledger/audit.py sees a different moment. An entry committed after the running balances
    were summed but before the accounts are read is reported as two
    `account_balance_mismatch` findings on an untouched ledger. A hook posts that entry
    just before the audit reads the accounts."""
    a = open_wallets(pg_ledger, "ani", "budi")
    pg_ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    posted: list[str] = []

    def post_before_accounts_are_read(*args: Any) -> None:
        statement: str = args[2]
        audit_reads_accounts = (
            "FROM ledger_account ORDER BY ledger_account.id" in statement
            and "FOR UPDATE" not in statement
        )
        if audit_reads_accounts and not posted:
            posted.append("during")
            pg_ledger.post(transfer("during", a["ani"], a["budi"], idr(10)))

    event.listen(pg_ledger.engine, "before_cursor_execute", post_before_accounts_are_read)
    try:
        report = pg_ledger.verify()
    finally:
        event.remove(pg_ledger.engine, "before_cursor_execute", post_before_accounts_are_read)
    assert posted == ["during"]
    assert pg_ledger.verify().intact
    assert report.intact, report.findings
