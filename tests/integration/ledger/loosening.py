"""Take a ledger table's constraints away, behind the ledger's back, for audit tests.

A writer with full SQL and DDL access can drop what the schema declares: NOT NULL, unique
keys, primary keys, CHECKs. `loosen` does that to one table inside a `raw.tampering`
transaction, so a test can store what the schema refuses (a NULL, a duplicate id) and show
the audit reports it. PostgreSQL drops the table's constraints and indexes and every
column's NOT NULL; SQLite, which cannot drop a constraint, copies the table into one of the
same columns and declared types without any, and puts it in the table's place.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from ledger.tables import metadata

__all__ = ["loosen"]


def loosen(conn: Connection, table: str) -> None:
    """Drop every constraint, index and NOT NULL of `table` (one of the ledger's)."""
    assert table in metadata.tables, f"{table} is a ledger table"
    if conn.dialect.name == "postgresql":
        _loosen_postgresql(conn, table)
    else:
        _loosen_sqlite(conn, table)


def _loosen_postgresql(conn: Connection, table: str) -> None:
    constraints = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
            " AND contype IN ('p', 'u', 'c', 'f') ORDER BY contype"
        ),
        {"t": table},
    ).scalars()
    for name in list(constraints):
        # CASCADE: a primary or unique key takes the foreign keys that refer to it along.
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}" CASCADE')
    indexes = conn.execute(
        text(
            "SELECT CAST(indexrelid AS regclass) FROM pg_index"
            " WHERE indrelid = CAST(:t AS regclass)"
        ),
        {"t": table},
    ).scalars()
    for index in list(indexes):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")
    columns = conn.execute(
        text(
            "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
            " AND attnum > 0 AND attnotnull AND NOT attisdropped"
        ),
        {"t": table},
    ).scalars()
    for column in list(columns):
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")


def _loosen_sqlite(conn: Connection, table: str) -> None:
    columns = metadata.tables[table].columns
    declared = ", ".join(f"{c.name} {c.type.compile(conn.dialect)}" for c in columns)
    names = ", ".join(c.name for c in columns)
    conn.exec_driver_sql(f"CREATE TABLE loose_{table} ({declared})")
    conn.exec_driver_sql(f"INSERT INTO loose_{table} ({names}) SELECT {names} FROM {table}")
    conn.exec_driver_sql(f"DROP TABLE {table}")
    conn.exec_driver_sql(f"ALTER TABLE loose_{table} RENAME TO {table}")
