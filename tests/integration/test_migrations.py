"""Migrations, on both engines: an empty database goes up to head, down to base and up again;
the tables as migrated match the packages' models; data written before a migration is
carried over, and a migration that refuses the data it finds (0006 on a broken chain)
stops `kopnet db upgrade` with a code.

The databases here are made empty by the test (not copied from the migrated template) and
removed afterwards.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, MetaData, String, inspect, text

from interchange.tables import metadata as interchange_metadata
from ledger.account import AccountKind, AccountSpec, AccountStatus
from ledger.audit_report import AuditReport
from ledger.db import make_engine
from ledger.digest import account_terms_digest
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import metadata
from ledger.terms_sealing import TermsSealing
from migrations.runner import alembic_config, current_revision, downgrade, upgrade
from settlement.tables import metadata as settlement_metadata
from tests.builders import transfer
from tests.cli import assert_refused_with, invoke
from tests.conftest import TEST_SEAL_KEY
from tests.databases import PostgresServer

LEDGER_TABLES = {"ledger_account", "ledger_entry", "ledger_posting", "ledger_chain"}
_HISTORY = ("ledger_entry", "ledger_posting", "ledger_chain", "ledger_account_event")
LEDGER_TRIGGERS = {
    "postgresql": {
        *(f"{t}_append_only" for t in _HISTORY),
        *(f"{t}_no_truncate" for t in _HISTORY),
        "ledger_posting_into_recorded",
        "ledger_entry_balanced",
    },
    "sqlite": {
        *(f"{t}_no_{op}" for t in _HISTORY for op in ("update", "delete", "replace")),
        "ledger_posting_into_recorded",
        "ledger_entry_balanced",
        "ledger_entry_legs",
    },
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, on each engine in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"kopnet_empty_{uuid.uuid4().hex[:12]}"
    url = server.create(name)
    try:
        yield url
    finally:
        server.drop(name)


def _triggers(conn: Connection) -> set[str]:
    if conn.dialect.name == "postgresql":
        query = (
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND c.relname LIKE 'ledger%'"
        )
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'ledger%'"
    return set(conn.execute(text(query)).scalars())


def _functions(conn: Connection) -> set[str]:
    if conn.dialect.name != "postgresql":
        return set()
    query = (
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public'"
    )
    return set(conn.execute(text(query)).scalars())


def _schema(url: str) -> dict[str, Any]:
    """Everything a migration creates that a later one could trip over, by name."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            shape = {
                table: (
                    [
                        (c["name"], str(c["type"]), c["nullable"])
                        for c in inspector.get_columns(table)
                    ],
                    sorted(str(i["name"]) for i in inspector.get_indexes(table)),
                    sorted(str(u["name"]) for u in inspector.get_unique_constraints(table)),
                    sorted(str(f["name"]) for f in inspector.get_foreign_keys(table)),
                    sorted(str(c["name"]) for c in inspector.get_check_constraints(table)),
                )
                for table in sorted(tables)
            }
            sequences = (
                set(inspector.get_sequence_names()) if conn.dialect.name == "postgresql" else set()
            )
            version = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
                if "alembic_version" in tables
                else []
            )
            return {
                "tables": tables,
                "shape": shape,
                "sequences": sequences,
                "functions": _functions(conn),
                "triggers": _triggers(conn),
                "version": version,
            }
    finally:
        engine.dispose()


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_an_empty_database_migrates_up_down_and_up_again(empty_url: str) -> None:
    dialect = "postgresql" if empty_url.startswith("postgresql") else "sqlite"
    assert _schema(empty_url)["tables"] == set()

    upgrade(empty_url)
    first = _schema(empty_url)
    assert first["tables"] >= LEDGER_TABLES | {"alembic_version"}
    assert first["version"] == [_head()]
    assert first["triggers"] == LEDGER_TRIGGERS[dialect]
    if dialect == "postgresql":
        assert "ledger_entry_seq" in first["sequences"]
        assert {
            "ledger_refuse_change",
            "ledger_check_new_postings",
            "ledger_check_new_entries",
        } <= first["functions"]

    downgrade(empty_url)
    emptied = _schema(empty_url)
    # Alembic keeps its own (now empty) version table; nothing else may remain.
    assert emptied["tables"] == {"alembic_version"}
    assert emptied["version"] == []
    assert (emptied["sequences"], emptied["functions"], emptied["triggers"]) == (
        set(),
        set(),
        set(),
    )

    upgrade(empty_url)
    assert _schema(empty_url) == first


def every_model() -> MetaData:
    """The ledger's, the interchange's and settlement's tables, in one metadata."""
    combined = MetaData(naming_convention=metadata.naming_convention)
    for package in (metadata, interchange_metadata, settlement_metadata):
        for table in package.tables.values():
            table.to_metadata(combined)
    return combined


def test_the_migrated_tables_match_the_models(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, every_model())
            # The negative space: a model that drifted from the migration is noticed.
            drifted = every_model()
            drifted.tables["ledger_account"].append_column(Column("nickname", String(32)))
            drifted_differences = compare_metadata(context, drifted)
    finally:
        engine.dispose()
    assert differences == []
    assert [d[0] for d in drifted_differences] == ["add_column"]


@contextmanager
def _engine_of(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _insert(conn: Connection, table: str, **values: object) -> int:
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    query = text(f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id")
    return int(conn.execute(query, values).scalar_one())


def _account(conn: Connection, ref: str, coop_id: int, kind: str, cap: int | None) -> int:
    return _insert(
        conn,
        "ledger_account",
        ref=ref,
        coop_id=coop_id,
        currency="IDR",
        kind=kind,
        status="active",
        min_balance_minor=None,
        max_balance_minor=cap,
        posted_minor=0,
        pending_debit_minor=0,
        pending_credit_minor=0,
        posting_count=0,
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
    )


def _coop_at_0003(conn: Connection, coop_id: int, code: str, *, is_network: bool) -> None:
    cap = 0 if is_network else 5_000_000
    accounts = {
        f"{purpose}_account_id": _account(conn, f"coop:{code}:{purpose}", coop_id, kind, limit)
        for purpose, kind, limit in (
            ("cash", "coop_cash", None),
            ("fee", "fee_income", None),
            ("due", "settlement", cap),
        )
    }
    _insert(
        conn,
        "interchange_coop",
        id=coop_id,
        code=code,
        legal_name=f"Koperasi {code}",
        registration_no=f"AHU-{code}",
        settlement_bank_code="014",
        settlement_account_no="1234567890",
        settlement_account_name=code,
        status="active",
        is_network=is_network,
        currency="IDR",
        net_debit_cap_minor=cap,
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
        **accounts,
    )


def _shares(url: str) -> dict[str, tuple[Any, ...]]:
    query = text(
        "SELECT c.code, c.fee_account_id, c.due_account_id, f.id, f.ref, f.coop_id,"
        " f.kind, d.id, d.ref, d.coop_id, d.kind, d.max_balance_minor"
        " FROM interchange_coop c"
        " JOIN ledger_account f ON f.id = c.network_fee_account_id"
        " JOIN ledger_account d ON d.id = c.network_due_account_id"
    )
    with _engine_of(url) as engine, engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(query)}


def _member_at_0003(conn: Connection, coop_id: int) -> None:
    _insert(
        conn,
        "interchange_member",
        coop_id=coop_id,
        member_no="A-001",
        name="Siti Aminah",
        phone="081234567890",
        nik_ciphertext="ciphertext",
        nik_key_id="k1",
        nik_lookup="0" * 64,
        kyc_tier="basic",
        status="active",
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
    )


def _at_0003(url: str, *, with_network: bool) -> None:
    """Migrate to 0003 and write what its code wrote: the network operator (if asked), a
    coop (id 2, KSP-01) and a member of it."""
    upgrade(url, "0003")
    with _engine_of(url) as engine, engine.begin() as conn:
        if with_network:
            _coop_at_0003(conn, 1, "KOPNET", is_network=True)
        _coop_at_0003(conn, 2, "KSP-01", is_network=False)
        # A row pointing at a coop: SQLite rebuilds the coop table, which must keep it.
        _member_at_0003(conn, 2)


def test_coops_registered_before_0004_get_the_networks_accounts_for_them(empty_url: str) -> None:
    _at_0003(empty_url, with_network=True)
    upgrade(empty_url)
    shares = _shares(empty_url)
    # (own fee, own due, then id, ref, owner, kind of the network's fee and due accounts)
    fee, due, *_ = shares["KOPNET"]
    assert shares["KOPNET"][2:] == (
        fee,
        "coop:KOPNET:fee",
        1,
        "fee_income",
        due,
        "coop:KOPNET:due",
        1,
        "settlement",
        None,
    )
    ksp = shares["KSP-01"]
    assert ksp[3:6] == ("network:KSP-01:fee", 1, "fee_income")
    assert ksp[7:] == ("network:KSP-01:due", 1, "settlement", None)

    downgrade(empty_url, "0003")
    upgrade(empty_url)
    assert _shares(empty_url) == shares, "a second upgrade reuses the accounts the first opened"
    with _engine_of(empty_url) as engine, engine.connect() as conn:
        members = conn.execute(text("SELECT coop_id FROM interchange_member")).scalars()
        assert list(members) == [2]


def test_0004_is_not_undone_once_payments_used_the_networks_accounts(empty_url: str) -> None:
    _at_0003(empty_url, with_network=True)
    upgrade(empty_url)
    with _engine_of(empty_url) as engine, engine.begin() as conn:
        # What a payment's posting does to the account's counter.
        conn.execute(
            text("UPDATE ledger_account SET posting_count = 1 WHERE ref = 'network:KSP-01:fee'")
        )
    with pytest.raises(RuntimeError, match="network:KSP-01:fee"):
        downgrade(empty_url, "0003")
    assert _schema(empty_url)["version"] == [_head()]


def test_a_sqlite_connection_keeps_its_foreign_keys_on_after_migrating(tmp_path: Path) -> None:
    with _engine_of(f"sqlite:///{tmp_path / 'fk.db'}") as engine, engine.connect() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
        assert not conn.in_transaction(), "the run committed its one transaction"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_0004_refuses_coops_without_a_network_operator(empty_url: str) -> None:
    _at_0003(empty_url, with_network=False)
    with pytest.raises(RuntimeError, match="network operator"):
        upgrade(empty_url)


def test_0005_rewrites_the_insert_checks_and_its_downgrade_puts_0001s_back(pg_url: str) -> None:
    """PostgreSQL only: 0005 changes nothing on SQLite, whose triggers run per row."""

    def check_texts() -> set[str]:
        names = ["ledger_check_new_postings", "ledger_check_new_entries"]
        query = text("SELECT prosrc FROM pg_proc WHERE proname = ANY(:names)")
        with _engine_of(pg_url) as engine, engine.connect() as conn:
            return set(conn.execute(query, {"names": names}).scalars())

    at_head = check_texts()
    downgrade(pg_url, "0004")
    at_0004 = check_texts()
    upgrade(pg_url)
    assert len(at_head) == len(at_0004) == 2
    assert all("LATERAL" in source for source in at_head)
    assert not any("LATERAL" in source for source in at_0004)
    assert check_texts() == at_head


def _unkeyed_chain_at_0005(url: str, *, break_at: int | None = None) -> int:
    """Post three transfers at head, go down to 0005 and seal them as 0005 did (unkeyed);
    `break_at` stores a wrong link at that position. Return how many entries there are."""
    with _engine_of(url) as engine:
        ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
        try:
            cash, budi = (
                ledger.open_account(AccountSpec(ref, 1, "IDR", AccountKind.COOP_CASH, None))
                for ref in ("cash", "budi")
            )
            for n in range(3):
                ledger.post(transfer(f"t{n}", cash, budi, Money(100 + n, "IDR")))
        finally:
            ledger.close()
    downgrade(url, "0005")
    with _engine_of(url) as engine, engine.begin() as conn:
        digests = conn.execute(text("SELECT seq, digest FROM ledger_entry ORDER BY seq")).all()
        previous = "0" * 64
        for position, (seq, digest) in enumerate(digests, start=1):
            previous = hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(digest)).hexdigest()
            link = "f" * 64 if position == break_at else previous
            conn.execute(
                text(
                    "INSERT INTO ledger_chain (position, entry_seq, chain_hash, sealed_at)"
                    " VALUES (:p, :s, :h, :t)"
                ),
                {"p": position, "s": seq, "h": link, "t": datetime.now(UTC)},
            )
    return len(digests)


def test_0006_checks_the_unkeyed_chain_and_entries_are_sealed_again_with_keyed_links(
    empty_url: str,
) -> None:
    upgrade(empty_url)
    entries = _unkeyed_chain_at_0005(empty_url)
    upgrade(empty_url)
    with _engine_of(empty_url) as engine:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM ledger_chain")).scalar_one() == 0
        ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
        try:
            assert ledger.seal() == entries
            report = ledger.verify()
        finally:
            ledger.close()
    # Going down to 0005 dropped the accounts' terms digests (0008's column): the entries
    # and the chain are intact, and each account is reported as unsealed (0009 listed
    # them), nothing else.
    assert [(f.code, f.subject) for f in report.findings] == [
        ("account_terms_unsealed", "account 1 (cash)"),
        ("account_terms_unsealed", "account 2 (budi)"),
    ]
    assert (report.sealed_entries, report.chain_length) == (entries, entries)


def test_0009_lists_the_accounts_without_a_digest_and_seal_terms_seals_them(
    empty_url: str,
) -> None:
    """Accounts opened at 0008 have digests; going down to 0007 and up again drops and
    re-adds the column, so every account opened so far lacks one, and 0009 lists them all.
    An account opened after the upgrade is sealed as it opens and not listed. Sealing the
    listed ones once leaves the audit intact."""
    upgrade(empty_url)
    with _engine_of(empty_url) as engine:
        ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
        try:
            cash = ledger.open_account(AccountSpec("cash", 1, "IDR", AccountKind.COOP_CASH, None))
            downgrade(empty_url, "0007")
            upgrade(empty_url)
            budi = ledger.open_account(AccountSpec("budi", 2, "IDR", AccountKind.COOP_CASH, None))
            ledger.post(transfer("t", cash, budi, Money(100, "IDR")))
            ledger.seal()
            with engine.connect() as conn:
                query = "SELECT account_id, coop_id FROM ledger_account_unsealed"
                listed = conn.execute(text(query)).all()
            assert [tuple(row) for row in listed] == [(cash.id, 1)]
            codes = [(f.code, f.subject) for f in ledger.verify().findings]
            assert codes == [("account_terms_unsealed", "account 1 (cash)")]
            assert ledger.seal_account_terms().sealed == (cash.id,)
            report = ledger.verify()
        finally:
            ledger.close()
    assert report.intact, report.findings


def _due_account(url: str, code: str) -> tuple[Any, ...]:
    """The coop's due account: its upper limit, its digest, whether it is listed."""
    query = text(
        "SELECT a.max_balance_minor, a.terms_digest, u.account_id IS NOT NULL"
        " FROM interchange_coop c JOIN ledger_account a ON a.id = c.due_account_id"
        " LEFT JOIN ledger_account_unsealed u ON u.account_id = a.id WHERE c.code = :code"
    )
    with _engine_of(url) as engine, engine.connect() as conn:
        return tuple(conn.execute(query, {"code": code}).one())


def _on_due_account(url: str, code: str, assignments: str) -> None:
    due = "(SELECT due_account_id FROM interchange_coop WHERE code = :code)"
    with _engine_of(url) as engine, engine.begin() as conn:
        conn.execute(
            text(f"UPDATE ledger_account SET {assignments} WHERE id = {due}"), {"code": code}
        )
        conn.execute(
            text(f"DELETE FROM ledger_account_unsealed WHERE account_id = {due}"), {"code": code}
        )


def _seal_due_account_at_0011(url: str, code: str, *, status: str) -> int:
    """Give the coop's due account the digest the ledger gave it at 0011 as if its status
    were `status` (its own: sealed; another: rewritten behind the ledger's back since);
    return its id."""
    query = text(
        "SELECT a.id, a.ref, a.coop_id, a.currency, a.kind, a.min_balance_minor,"
        " a.max_balance_minor FROM interchange_coop c"
        " JOIN ledger_account a ON a.id = c.due_account_id WHERE c.code = :code"
    )
    with _engine_of(url) as engine, engine.connect() as conn:
        due_id, ref, coop_id, currency, kind, low, high = conn.execute(query, {"code": code}).one()
    terms = (due_id, ref, coop_id, currency, kind, status, low, high)
    digest = account_terms_digest(TEST_SEAL_KEY, terms)
    _on_due_account(url, code, f"terms_digest = '{digest}'")
    return int(due_id)


def _seal_and_verify(url: str) -> tuple[TermsSealing, AuditReport]:
    with _engine_of(url) as engine:
        ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
        try:
            return ledger.seal_account_terms(), ledger.verify()
        finally:
            ledger.close()


def test_0012_takes_the_cap_off_due_accounts_and_lists_them_for_sealing(empty_url: str) -> None:
    """A participant's due account loses its upper limit (the cap bounds payments now) and
    its digest, and is listed for `seal-terms`, those a registration that died before its
    row left included; the network's is left as it was. Going down puts the cap back, or,
    where higher, the balance with held credits or the highest a posting recorded."""
    _at_0003(empty_url, with_network=True)
    upgrade(empty_url, "0011")
    assert _due_account(empty_url, "KSP-01") == (5_000_000, None, True)
    network_due = _due_account(empty_url, "KOPNET")
    due_id = _seal_due_account_at_0011(empty_url, "KSP-01", status="active")
    with _engine_of(empty_url) as engine, engine.begin() as conn:
        orphan = _account(conn, "coop:KSP-09:due", 3, "settlement", 5_000_000)
    upgrade(empty_url)
    assert _due_account(empty_url, "KSP-01") == (None, None, True)
    assert _due_account(empty_url, "KOPNET") == network_due
    with _engine_of(empty_url) as engine, engine.connect() as conn:
        limit = "SELECT max_balance_minor FROM ledger_account WHERE id = :id"
        assert conn.execute(text(limit), {"id": orphan}).scalar_one() is None
    done, report = _seal_and_verify(empty_url)
    assert due_id in done.sealed and report.intact, report.findings
    with _engine_of(empty_url) as engine:
        ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
        try:
            cash = ledger.open_account(AccountSpec("cash", 2, "IDR", AccountKind.COOP_CASH, None))
            due = ledger.account(due_id)
            ledger.post(transfer("in", cash, due, Money(7_000_000, "IDR")))
            ledger.post(transfer("out", due, cash, Money(7_000_000, "IDR")))
        finally:
            ledger.close()
    downgrade(empty_url, "0011")
    assert _due_account(empty_url, "KSP-01") == (7_000_000, None, True)
    upgrade(empty_url)
    _on_due_account(empty_url, "KSP-01", "posted_minor = 7000000, pending_credit_minor = 1")
    downgrade(empty_url, "0011")
    assert _due_account(empty_url, "KSP-01") == (7_000_001, None, True)


def test_0012_keeps_what_it_found_so_sealing_cannot_bless_terms_rewritten_before_it(
    empty_url: str,
) -> None:
    """KSP-01's due account was frozen at 0011 and set back to active behind the ledger's
    back (the audit at 0011 reports it). After 0012 its digest is NULL, but the terms it
    found do not match the digest it found: still a mismatch, and `seal-terms` leaves it
    listed, unsealed."""
    _at_0003(empty_url, with_network=True)
    upgrade(empty_url, "0011")
    due_id = _seal_due_account_at_0011(empty_url, "KSP-01", status="frozen")
    upgrade(empty_url)
    done, report = _seal_and_verify(empty_url)
    assert due_id in done.refused and due_id not in done.sealed
    findings = [(f.code, f.subject) for f in report.findings]
    assert findings == [("account_terms_mismatch", f"account {due_id} (coop:KSP-01:due)")]
    assert _due_account(empty_url, "KSP-01") == (None, None, True)


def test_0013_downgrade_lists_the_accounts_whose_digest_sealed_a_version(
    empty_url: str,
) -> None:
    """Budi frozen at 0013 has a digest over his terms version; going down to 0012 drops
    the version, so his digest is cleared and he is listed for sealing, while cash, never
    changed, keeps its digest. Up again, his history is empty: he is frozen at version 0,
    unsealed and unversioned. Sealing him also records him at version 1, so his opening
    row put back is behind his history, and the audit is otherwise intact."""
    upgrade(empty_url)
    with _engine_of(empty_url) as engine:
        ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
        try:
            specs = (AccountSpec(ref, 1, "IDR", AccountKind.COOP_CASH, None) for ref in "ab")
            cash, budi = (ledger.open_account(spec) for spec in specs)
            seal = "SELECT status, terms_version, terms_digest FROM ledger_account WHERE id = :i"
            with engine.connect() as conn:
                opening = conn.execute(text(seal), {"i": budi.id}).one()._asdict()
            ledger.set_account_status(budi.id, AccountStatus.FROZEN)
            downgrade(empty_url, "0012")
            with engine.connect() as conn:
                listed = conn.execute(text("SELECT account_id FROM ledger_account_unsealed"))
                assert list(listed.scalars()) == [budi.id]
                query = text("SELECT id FROM ledger_account WHERE terms_digest IS NOT NULL")
                assert list(conn.execute(query).scalars()) == [cash.id]
            upgrade(empty_url)
            codes = [f.code for f in ledger.verify().findings]
            assert codes == ["account_terms_unsealed", "account_terms_unversioned"]
            done = ledger.seal_account_terms()
            assert (done.sealed, done.recorded) == ((budi.id,), (budi.id,))
            report = ledger.verify()
            with engine.begin() as conn:
                put_back = "UPDATE ledger_account SET status = :status, terms_version ="
                put_back += " :terms_version, terms_digest = :terms_digest WHERE id = :i"
                conn.execute(text(put_back), {**opening, "i": budi.id})
            codes = [f.code for f in ledger.verify().findings]
            assert codes == ["account_terms_rolled_back"]
        finally:
            ledger.close()
    assert report.intact, report.findings


def _broken_unkeyed_chain_at_0005(url: str) -> None:
    """An empty database taken to head, then down to 0005 with entries sealed as 0005 did,
    link 2 wrong."""
    upgrade(url)
    _unkeyed_chain_at_0005(url, break_at=2)


def test_0006_stops_on_a_broken_unkeyed_chain(empty_url: str) -> None:
    _broken_unkeyed_chain_at_0005(empty_url)
    with pytest.raises(RuntimeError, match="broken at position 2"):
        upgrade(empty_url)
    assert _schema(empty_url)["version"] == ["0005"]


def test_db_upgrade_over_a_broken_unkeyed_chain_exits_2_with_a_code(tmp_path: Path) -> None:
    """Migration 0006 stops on a broken pre-0006 chain, as documented; `kopnet db
    upgrade` says so as `migration_refused` (exit 2), not with a traceback, and the
    database stays at 0005."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _broken_unkeyed_chain_at_0005(url)
    result = invoke("db", "upgrade", "--database-url", url)
    assert current_revision(url) == "0005"
    assert_refused_with(result, "migration_refused")
