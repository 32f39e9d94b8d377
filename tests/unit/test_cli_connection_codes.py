"""Which code the command line gives a lost or busy database (api/cli_support.py)."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import InterfaceError, OperationalError

from api.cli_support import connection_code


def test_sqlites_write_lock_held_past_the_busy_timeout_is_database_busy() -> None:
    """Another process kept the file's write lock past the 30 s busy timeout: busy, and
    running the command again later is safe; it was `database_unavailable`, which sent
    the operator looking for a database that was there."""
    locked = OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
    assert connection_code(locked) == "database_busy"


def test_any_other_connection_failure_is_database_unavailable() -> None:
    gone = OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))
    closed = InterfaceError("SELECT 1", {}, sqlite3.InterfaceError("closed"))
    assert connection_code(gone) == connection_code(closed) == "database_unavailable"
