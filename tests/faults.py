"""Faults injected into a test's own PostgreSQL database: a write that stalls in the server.

`stall_next_entry_insert` makes the next statement that inserts ledger entries sleep in
the server for `seconds` before it finishes, once: the writer then holds its accounts'
locks, with its postings written and its COMMIT queued behind, while the test drops its
connection or kills its process. Only for a database the test made itself.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

__all__ = ["stall_next_entry_insert"]


def stall_next_entry_insert(engine: Engine, seconds: float) -> None:
    """Install the one-shot stall on `engine`'s database (a sequence counts the inserts,
    outside any transaction, so a retry after a rollback does not stall again)."""
    assert 0 < seconds <= 60
    statements = (
        "CREATE SEQUENCE test_stalled_entry_inserts",
        "CREATE FUNCTION test_stall_first_entry_insert() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN IF nextval('test_stalled_entry_inserts') = 1 THEN"
        f" PERFORM pg_sleep({float(seconds)}); END IF; RETURN NULL; END $$",
        "CREATE TRIGGER test_stall_first_entry_insert AFTER INSERT ON ledger_entry"
        " FOR EACH STATEMENT EXECUTE FUNCTION test_stall_first_entry_insert()",
    )
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
