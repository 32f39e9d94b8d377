"""The command line on a database that refuses the work, or on a SQLite URL or file that is
not a database: each is a named refusal with exit 2, never a traceback, and nothing is
created or written.

- A PostgreSQL role without the privilege (an auditor's read-only role, whose
  `audit verify` seals first) is `database_permission_denied`; `--no-seal-first` audits,
  even before the sealing key's fingerprint is recorded (it checks the key, and leaves
  the recording to a role that may write).
- A server whose transactions are read-only (a replica) asked to write is
  `database_read_only`.
- A SQLite URL with `?options` is `database_url_invalid`: SQLAlchemy took it for a file
  name and created that file.
- A SQLite file that holds no database is `database_not_found`: opening it wrote to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ledger.service import Ledger
from ledger.tables import seal_key
from tests.builders import idr, open_wallets, transfer
from tests.cli import assert_refused_with, audit_verify_json, invoke
from tests.conftest import TEST_SEAL_KEY
from tests.databases import PostgresServer

_ENV = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()}


@pytest.fixture
def reader_url(pg_server: PostgresServer, pg_url: str) -> Iterator[str]:
    """`pg_url` as a login role of its own that may only read it; dropped after."""
    role = f"kopnet_reader_{uuid.uuid4().hex[:12]}"
    database = make_url(pg_url).database
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        owner.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    try:
        yield make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as owner:
            owner.execute(f'DROP OWNED BY "{role}"')
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
            admin.execute(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_a_read_only_role_is_refused_sealing_with_a_code_and_audits_without_it(
    pg_ledger: Ledger, reader_url: str
) -> None:
    """An entry not yet sealed: `audit verify` as the reader seals first and is refused
    (`database_permission_denied`, exit 2, not a traceback with exit 1, which means
    'tampered'); with `--no-seal-first` it audits, intact."""
    wallets = open_wallets(pg_ledger, "ani")
    pg_ledger.post(transfer("fund", wallets["cash"], wallets["ani"], idr(100)))
    args = ("audit", "verify", "--database-url", reader_url)
    assert_refused_with(invoke(*args, env=_ENV), "database_permission_denied")
    status, report = audit_verify_json(reader_url, "--no-seal-first")
    assert status == 0, report


def test_a_read_only_role_audits_a_database_whose_seal_key_is_not_recorded_yet(
    pg_ledger: Ledger, reader_url: str
) -> None:
    """Upgraded to 0011, no sealing key's fingerprint recorded yet: the reader's role may
    not record it, and need not, once the chain verifies under its key; it audits intact
    and the fingerprint is left for a process that may write."""
    wallets = open_wallets(pg_ledger, "ani")
    pg_ledger.post(transfer("fund", wallets["cash"], wallets["ani"], idr(100)))
    assert pg_ledger.seal() == 1
    with pg_ledger.engine.begin() as conn:
        conn.execute(seal_key.delete())
    status, report = audit_verify_json(reader_url, "--no-seal-first")
    assert status == 0, report
    with pg_ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(seal_key)).scalar_one() == 0


def test_a_write_to_a_read_only_server_is_refused_with_a_code(
    pg_server: PostgresServer, pg_url: str
) -> None:
    """A database whose transactions are read only, as a replica's are: the nightly
    close is `database_read_only`, exit 2, and no window was written."""
    database = make_url(pg_url).database
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    result = invoke("settle", "close", "--date", "2026-11-23", "--database-url", pg_url)
    assert_refused_with(result, "database_read_only")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM settlement_window").fetchone() == (0,)


def test_a_sqlite_url_with_options_is_refused_and_creates_no_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}?mode=ro&uri=true"
    assert_refused_with(invoke("ledger", "seal", "--database-url", url), "database_url_invalid")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"date,amount\n2026-11-23,5\n"], ids=["empty", "csv"])
def test_a_sqlite_file_holding_no_database_is_refused_and_left_as_it_was(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "statement.csv"
    path.write_bytes(content)
    result = invoke("audit", "verify", "--database-url", f"sqlite:///{path}")
    assert_refused_with(result, "database_not_found")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["statement.csv"]
