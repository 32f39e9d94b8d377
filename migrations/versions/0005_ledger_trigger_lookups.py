"""The ledger's insert checks on PostgreSQL look up only the rows a statement inserted.

0001's statement triggers joined the inserted rows (a transition table) to the whole
`ledger_posting` or `ledger_entry` table and left the join method to the planner. PL/pgSQL
plans such a query once per connection, from the size of the first statement it checks: a
connection whose first insert was a large batch kept a merge join that walked the whole
posting index on every later insert, so each write grew slower as the ledger grew (7 ms
instead of 1.5 ms for eight transfers over 60,000 postings, measured). The checks are now
written as one index lookup per inserted entry (`LATERAL` subqueries that the planner
cannot flatten into a join), whatever plan was cached. What they refuse is unchanged.
SQLite's triggers already run per row with index lookups and are not touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LEGGED_KINDS = "('posted', 'pending', 'post_pending', 'reversal')"


def _refuse_if(query: str, message: str) -> str:
    return f"""
        IF EXISTS ({query}) THEN
            RAISE EXCEPTION '{message}' USING ERRCODE = 'check_violation';
        END IF;"""


def _function(name: str, *checks: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN{"".join(checks)}
        RETURN NULL;
    END $$
    """


_ADDED_TO_RECORDED = "postings cannot be added to a recorded entry"
_UNBALANCED = "entry_unbalanced: postings must sum to zero per currency"
_TOO_FEW_LEGS = _refuse_if(
    f"SELECT 1 FROM new_entries n WHERE n.kind IN {_LEGGED_KINDS}"
    " AND (SELECT count(*) FROM ledger_posting p WHERE p.entry_seq = n.seq) < 2",
    "legs_too_few: an entry of this kind needs two postings",
)

_FUNCTIONS = [
    _function(
        "ledger_check_new_postings",
        _refuse_if(
            "SELECT 1 FROM (SELECT DISTINCT entry_seq FROM new_postings) n"
            " CROSS JOIN LATERAL ("
            "SELECT 1 FROM ledger_entry e WHERE e.seq = n.entry_seq LIMIT 1) recorded",
            _ADDED_TO_RECORDED,
        ),
    ),
    _function(
        "ledger_check_new_entries",
        _refuse_if(
            "SELECT 1 FROM new_entries n CROSS JOIN LATERAL ("
            "SELECT sum(p.amount_minor) AS total FROM ledger_posting p"
            " WHERE p.entry_seq = n.seq GROUP BY p.currency) per_currency"
            " WHERE per_currency.total <> 0",
            _UNBALANCED,
        ),
        _TOO_FEW_LEGS,
    ),
]

# A revision imports nothing, so that it stays what it was: 0001's checks, as 0001 wrote them.
_FUNCTIONS_OF_0001 = [
    _function(
        "ledger_check_new_postings",
        _refuse_if(
            "SELECT 1 FROM new_postings n JOIN ledger_entry e ON e.seq = n.entry_seq",
            _ADDED_TO_RECORDED,
        ),
    ),
    _function(
        "ledger_check_new_entries",
        _refuse_if(
            "SELECT 1 FROM new_entries n JOIN ledger_posting p ON p.entry_seq = n.seq"
            " GROUP BY p.entry_seq, p.currency HAVING sum(p.amount_minor) <> 0",
            _UNBALANCED,
        ),
        _TOO_FEW_LEGS,
    ),
]


def upgrade() -> None:
    """Replace the two check functions; the triggers that call them stay as they are."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    """Put back 0001's text of the two check functions."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _FUNCTIONS_OF_0001:
        op.execute(statement)
