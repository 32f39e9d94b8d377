"""Migrations, on both engines: an empty database goes up to head, down to base and up again,
and the ledger's tables as migrated match `ledger.tables.metadata`.

The databases here are made empty by the test (not copied from the migrated template) and
removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, inspect, text

from ledger.db import make_engine
from ledger.tables import metadata
from migrations.runner import alembic_config, downgrade, upgrade
from tests.databases import PostgresServer

LEDGER_TABLES = {"ledger_account", "ledger_entry", "ledger_posting", "ledger_chain"}
_HISTORY = ("ledger_entry", "ledger_posting", "ledger_chain")
LEDGER_TRIGGERS = {
    "postgresql": {
        *(f"{t}_append_only" for t in _HISTORY),
        *(f"{t}_no_truncate" for t in _HISTORY),
        "ledger_posting_into_recorded",
        "ledger_entry_balanced",
    },
    "sqlite": {
        *(f"{t}_no_{op}" for t in _HISTORY for op in ("update", "delete")),
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


def test_the_migrated_ledger_tables_match_the_models(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    # Later revisions add other packages' tables (interchange_*,
                    # settlement_*), which `ledger.tables.metadata` rightly does not
                    # describe. Any table named ledger_* is compared, so a ledger table
                    # that a migration creates but the models lack is still reported.
                    "include_name": lambda name, kind, _parent: (
                        kind != "table" or str(name).startswith("ledger_")
                    ),
                },
            )
            differences = compare_metadata(context, metadata)
            # The negative space: a model that drifted from the migration is noticed.
            drifted = MetaData(naming_convention=metadata.naming_convention)
            for table in metadata.tables.values():
                table.to_metadata(drifted)
            drifted.tables["ledger_account"].append_column(Column("nickname", String(32)))
            drifted_differences = compare_metadata(context, drifted)
    finally:
        engine.dispose()
    assert differences == []
    assert [d[0] for d in drifted_differences] == ["add_column"]
