"""The database a benchmark runs on: made for it, seeded, checked afterwards, dropped.

Invariants: a scratch database is created under a fresh random name and always dropped
afterwards (a benchmark never reads or writes a database it did not create); on SQLite it
is a file in a temporary directory. The seeded ledger balances: accounts are opened with
zero balances, and every member wallet is then funded by one entry from its cooperative's
cash account, posted through `Ledger.post_batch`. `check_books` seals and audits the
ledger and compares what it recorded with what the benchmark saw accepted.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import psycopg
from sqlalchemy import BigInteger, String, column, func, insert, select, update, values
from sqlalchemy.engine import make_url

from ledger.account import AccountKind, AccountSpec, AccountStatus
from ledger.digest import account_terms_digest
from ledger.entry import EntryRequest, Leg
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import account, entry
from migrations.runner import upgrade

__all__ = [
    "BENCH_DATE",
    "CURRENCY",
    "NO_METADATA",
    "SEED_BATCH_SIZE",
    "SeededLedger",
    "check_books",
    "is_sqlite",
    "libpq_url",
    "migrate",
    "scratch_database",
    "seed_ledger",
]

CURRENCY = "IDR"
BENCH_DATE = date(2026, 11, 23)
NO_METADATA: MappingProxyType[str, Any] = MappingProxyType({})
SEED_BATCH_SIZE = 4000
WALLET_FUNDING_MINOR = 10_000_000
_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_ACCOUNT_INSERT_ROWS_MAX = 5000
_SEED_THREADS = 2
_AUDIT_FINDINGS_SHOWN_MAX = 10


def is_sqlite(url: str) -> bool:
    """True when `url` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def libpq_url(url: str) -> str:
    """`url` as libpq (psycopg, pgbench) understands it: no SQLAlchemy driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """Yield the URL of a fresh, empty database named `<prefix>_<random>`; drop it after."""
    assert _NAME_PREFIX.match(prefix), "the prefix becomes part of an SQL identifier"
    if is_sqlite(server_url):
        with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as directory:
            yield f"sqlite:///{Path(directory) / 'ledger.db'}"
        return
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = libpq_url(server_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True, slots=True)
class SeededLedger:
    """The accounts a benchmark moves money between, and what seeding recorded."""

    wallet_ids: tuple[int, ...]
    merchant_id: int
    cash_ids: tuple[int, ...]
    funding_entries: int
    wallet_funding_minor: int


def migrate(url: str) -> None:
    """Bring the scratch database at `url` to the newest schema."""
    upgrade(url)


def seed_ledger(
    ledger: Ledger, *, seal_key: bytes, coops: int, wallets_per_coop: int
) -> SeededLedger:
    """Open one merchant, and per cooperative a cash account and its wallets, their terms
    sealed under `seal_key` (the ledger's); fund them."""
    assert coops >= 1 and wallets_per_coop >= 2
    specs = _account_specs(coops, wallets_per_coop)
    ids = _open_accounts(ledger, specs, seal_key)
    cash_ids = tuple(ids[f"c{coop}:cash"] for coop in range(1, coops + 1))
    wallet_ids = tuple(
        ids[f"c{coop}:w{n}"] for coop in range(1, coops + 1) for n in range(wallets_per_coop)
    )
    funding = _funding_requests(wallet_ids, wallets_per_coop, cash_ids)
    batches = [funding[i : i + SEED_BATCH_SIZE] for i in range(0, len(funding), SEED_BATCH_SIZE)]
    # Two writers: while one batch commits, the next is planned.
    with ThreadPoolExecutor(max_workers=_SEED_THREADS) as pool:
        for outcomes in pool.map(ledger.post_batch, batches):
            refused = [o for o in outcomes if not o.ok]
            assert not refused, f"seeding was refused: {refused[:3]}"
    merchant_id = ids["c1:merchant"]
    return SeededLedger(wallet_ids, merchant_id, cash_ids, len(funding), WALLET_FUNDING_MINOR)


def _account_specs(coops: int, wallets_per_coop: int) -> list[AccountSpec]:
    member = AccountKind.MEMBER_WALLET
    specs = [AccountSpec("c1:merchant", 1, CURRENCY, AccountKind.MERCHANT_WALLET)]
    for coop in range(1, coops + 1):
        specs.append(AccountSpec(f"c{coop}:cash", coop, CURRENCY, AccountKind.COOP_CASH, None))
        specs.extend(
            AccountSpec(f"c{coop}:w{n}", coop, CURRENCY, member) for n in range(wallets_per_coop)
        )
    return [spec.validated() for spec in specs]


def _open_accounts(ledger: Ledger, specs: Sequence[AccountSpec], seal_key: bytes) -> dict[str, int]:
    """Open every account in bulk; return account ids by ref.

    `Ledger.open_account` takes one transaction per account, which would make seeding the
    slowest part of the benchmark; the rows written here are the ones it writes, their terms
    digests too: computed once the ids are known, and stored by one UPDATE per chunk.
    """
    created_at = datetime.now(UTC)
    rows = [_account_row(spec, created_at) for spec in specs]
    with ledger.engine.begin() as conn:
        for start in range(0, len(rows), _ACCOUNT_INSERT_ROWS_MAX):
            conn.execute(insert(account), rows[start : start + _ACCOUNT_INSERT_ROWS_MAX])
        found = {row.ref: row.id for row in conn.execute(select(account.c.ref, account.c.id))}
        assert len(found) == len(specs), "every account opened, none was there before"
        opened = [spec.opened_as(found[spec.ref]) for spec in specs]
        digests = [(a.id, account_terms_digest(seal_key, a.terms())) for a in opened]
        for start in range(0, len(digests), _ACCOUNT_INSERT_ROWS_MAX):
            conn.execute(_seal_terms(digests[start : start + _ACCOUNT_INSERT_ROWS_MAX]))
    return found


def _seal_terms(digests: Sequence[tuple[int, str]]) -> Any:
    """One UPDATE ... FROM (VALUES ...) that stores the digests of a chunk of accounts; the
    VALUES list is a CTE, as SQLite cannot name a VALUES list's columns in FROM."""
    assert digests, "a chunk holds at least one account"
    columns = (column("id", BigInteger), column("digest", String(64)))
    sealed = values(*columns, name="sealed").data(list(digests)).cte("sealed")
    return update(account).where(account.c.id == sealed.c.id).values(terms_digest=sealed.c.digest)


def _account_row(spec: AccountSpec, created_at: datetime) -> dict[str, Any]:
    return {
        "ref": spec.ref,
        "coop_id": spec.coop_id,
        "currency": spec.currency,
        "kind": spec.kind.value,
        "status": AccountStatus.ACTIVE.value,
        "min_balance_minor": spec.min_balance_minor,
        "max_balance_minor": spec.max_balance_minor,
        "posted_minor": 0,
        "pending_debit_minor": 0,
        "pending_credit_minor": 0,
        "posting_count": 0,
        "created_at": created_at,
    }


def _funding_requests(
    wallet_ids: Sequence[int], wallets_per_coop: int, cash_ids: Sequence[int]
) -> list[EntryRequest]:
    amount = Money(WALLET_FUNDING_MINOR, CURRENCY)
    return [
        EntryRequest(
            entry_id=f"seed-{wallet_id}",
            business_date=BENCH_DATE,
            legs=(Leg(cash_ids[index // wallets_per_coop], -amount), Leg(wallet_id, amount)),
            metadata=NO_METADATA,
        )
        for index, wallet_id in enumerate(wallet_ids)
    ]


def check_books(ledger: Ledger, *, expected_entries: int) -> dict[str, object]:
    """Seal, audit, and check balances and entry count; `invariants_ok` when all hold."""
    started = time.perf_counter()
    sealed = ledger.seal()
    seal_s = time.perf_counter() - started
    report = ledger.verify()
    verify_s = time.perf_counter() - started - seal_s
    totals = select(account.c.currency, func.sum(account.c.posted_minor)).group_by(
        account.c.currency
    )
    with ledger.engine.connect() as conn:
        sums = {currency: int(total) for currency, total in conn.execute(totals)}
        recorded = conn.execute(select(func.count()).select_from(entry)).scalar_one()
    balanced = all(total == 0 for total in sums.values())
    return {
        "invariants_ok": report.intact and balanced and recorded == expected_entries,
        "audit_intact": report.intact,
        "audit_findings": [f.code for f in report.findings[:_AUDIT_FINDINGS_SHOWN_MAX]],
        "balance_sums_minor": sums,
        "entries_recorded": recorded,
        "entries_expected": expected_entries,
        "entries_sealed": sealed,
        "seal_s": round(seal_s, 3),
        "verify_s": round(verify_s, 3),
    }
