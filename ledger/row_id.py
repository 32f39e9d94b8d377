"""Row ids: the integer keys of database rows.

Invariant: every id column of ours is a PostgreSQL `bigint` (an SQLite integer is the same
size), so a row id is at most `ROW_ID_MAX`; a larger integer names no row. Pure: no I/O.
"""

from __future__ import annotations

__all__ = ["ROW_ID_MAX"]

# The largest signed 64-bit integer, PostgreSQL's bigint bound.
ROW_ID_MAX = 2**63 - 1
