"""The seal chain's links are keyed, and SQLite refuses REPLACE into the ledger's history.

Links were SHA-256(previous link || digest): whoever could write to the database could
delete a sealed entry and compute every later link again. From this revision a link is
HMAC-SHA256 under the sealing key (`ledger.digest.chain_link`). A migration does not know
the key, so the upgrade first checks the old chain (its links need no key) and stops if
any link, position or sealed entry is wrong; then it empties the chain, and the next
`kopnet ledger seal` (or `kopnet audit verify`) seals every entry again, in sequence
order, with keyed links. Entries, postings and their keyed digests are not touched. An
anchor kept from a report made before this revision no longer applies: keep a new one.

SQLite: `INSERT OR REPLACE` deletes the row it replaces without firing DELETE triggers
(unless the connection turned recursive triggers on), so from any connection a recorded
entry, posting or link could be rewritten. Each history table gains a BEFORE INSERT
trigger that refuses a row whose key, or rowid, is already taken. PostgreSQL has no REPLACE, and its
upserts are refused by the UPDATE trigger.

Downgrade: the chain is emptied again (0005's code cannot check keyed links), and the
SQLite triggers are dropped.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import hashlib

from alembic import op
from sqlalchemy import Connection, text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_TAKEN = "ledger history is append-only: this key is already recorded"
# Each trigger refuses an insert that would collide with a row already recorded, by a
# declared key or by the hidden rowid a REPLACE may name (NEW.rowid is not a stored rowid
# when the insert names none).
_COLLISIONS = {
    "ledger_entry": (
        "EXISTS (SELECT 1 FROM ledger_entry WHERE rowid = NEW.rowid)"
        " OR EXISTS (SELECT 1 FROM ledger_entry WHERE seq = NEW.seq)"
        " OR EXISTS (SELECT 1 FROM ledger_entry WHERE entry_id = NEW.entry_id)"
        " OR (NEW.target_seq IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM ledger_entry WHERE target_seq = NEW.target_seq))"
    ),
    "ledger_posting": (
        "EXISTS (SELECT 1 FROM ledger_posting WHERE rowid = NEW.rowid)"
        " OR EXISTS (SELECT 1 FROM ledger_posting"
        " WHERE entry_seq = NEW.entry_seq AND leg_no = NEW.leg_no)"
        " OR (NEW.account_posting_no IS NOT NULL AND EXISTS (SELECT 1 FROM ledger_posting"
        " WHERE account_id = NEW.account_id AND account_posting_no = NEW.account_posting_no))"
    ),
    "ledger_chain": (
        "EXISTS (SELECT 1 FROM ledger_chain WHERE rowid = NEW.rowid)"
        " OR EXISTS (SELECT 1 FROM ledger_chain WHERE position = NEW.position)"
        " OR EXISTS (SELECT 1 FROM ledger_chain WHERE entry_seq = NEW.entry_seq)"
    ),
}


def upgrade() -> None:
    """Check the unkeyed chain, empty it for keyed sealing; guard SQLite against REPLACE."""
    conn = op.get_bind()
    _check_unkeyed_chain(conn)
    _empty_chain(conn)
    if conn.dialect.name == "sqlite":
        for table, collision in _COLLISIONS.items():
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}"
                f" WHEN {collision} BEGIN SELECT RAISE(ABORT, '{_TAKEN}'); END"
            )


def downgrade() -> None:
    """Empty the keyed chain and drop the SQLite triggers."""
    conn = op.get_bind()
    _empty_chain(conn)
    if conn.dialect.name == "sqlite":
        for table in _COLLISIONS:
            op.execute(f"DROP TRIGGER {table}_no_replace")


def _check_unkeyed_chain(conn: Connection) -> None:
    """Walk the chain as 0001 to 0005 sealed it; stop the migration at the first fault."""
    rows = conn.execute(
        text(
            "SELECT c.position, c.chain_hash, e.digest FROM ledger_chain c"
            " LEFT JOIN ledger_entry e ON e.seq = c.entry_seq ORDER BY c.position"
        )
    )
    previous, expected = _GENESIS, 1
    for position, link, digest in rows:
        if position != expected or digest is None or _unkeyed_link(previous, digest) != link:
            raise RuntimeError(
                f"the seal chain is broken at position {position}: run `kopnet audit verify`"
                " with the code of revision 0005 and resolve its findings before upgrading"
            )
        previous, expected = link, position + 1


def _unkeyed_link(previous: str, digest: str) -> str | None:
    try:
        return hashlib.sha256(bytes.fromhex(previous) + bytes.fromhex(digest)).hexdigest()
    except ValueError:
        return None


def _empty_chain(conn: Connection) -> None:
    """Delete every link, past the append-only trigger, which is put back at once."""
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_chain DISABLE TRIGGER ledger_chain_append_only")
        op.execute("DELETE FROM ledger_chain")
        op.execute("ALTER TABLE ledger_chain ENABLE TRIGGER ledger_chain_append_only")
        return
    op.execute("DROP TRIGGER ledger_chain_no_delete")
    op.execute("DELETE FROM ledger_chain")
    op.execute(
        "CREATE TRIGGER ledger_chain_no_delete BEFORE DELETE ON ledger_chain"
        " BEGIN SELECT RAISE(ABORT, 'ledger history is append-only'); END"
    )
