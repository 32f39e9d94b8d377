"""Each account's terms changes are kept in an append-only, keyed, hash-chained history.

An account's terms digest (0008) shows terms rewritten behind the ledger's back, but not an
earlier row put back: a frozen account unfrozen by restoring its earlier status together
with its earlier digest (from a backup, or read before the freeze) verifies, because the
old digest is a valid digest of the old terms. So every account now carries a
`terms_version` (0 until its first change; a digest seals it where it is not 0, so every
digest written before this revision still verifies and none needs sealing again), and
every status change appends to `ledger_account_event` the account's new version, status
and digest, linked into a keyed chain (`ledger.account_events`). The audit recomputes the
chain and requires each account to match its latest event
(`ledger.audit_account_events`). An account frozen or closed before this revision is left
at version 0 with no event, where its opening row put back would match: the audit reports
it (`account_terms_unversioned`) until `kopnet ledger seal-terms`, run once after the
upgrade, records it at version 1 (`ledger.terms_baseline`); a migration does not know the
key to link the event.

The history is append-only as 0001 made the entries: PostgreSQL refuses UPDATE, DELETE and
TRUNCATE with 0001's `ledger_refuse_change`; SQLite refuses UPDATE and DELETE, and an
insert onto a key or rowid already recorded (an `INSERT OR REPLACE`, as 0006 guards the
entries). Both engines add the column in place (a constant default: no table rewrite on
PostgreSQL, and SQLite adds it without copying the table, so its triggers stay).

Downgrade: the history and the column are dropped. A digest that sealed a version other
than 0 would not verify without it, and a migration does not know the key: each such
account's digest is set to NULL and the account listed in `ledger_account_unsealed`, as
0012 does, for `kopnet ledger seal-terms` to seal once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TABLE = "ledger_account_event"
_PG_TRIGGERS = (
    f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE}"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
    f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE}"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
)
_REFUSED = "ledger history is append-only"
_TAKEN = "ledger history is append-only: this key is already recorded"
_SQLITE_TRIGGERS = (
    *(
        f"CREATE TRIGGER {_TABLE}_no_{name.lower()} BEFORE {name} ON {_TABLE}"
        f" BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        for name in ("UPDATE", "DELETE")
    ),
    # NEW.rowid is not a stored rowid when the insert names none.
    f"CREATE TRIGGER {_TABLE}_no_replace BEFORE INSERT ON {_TABLE}"
    f" WHEN EXISTS (SELECT 1 FROM {_TABLE} WHERE rowid = NEW.rowid)"
    f" OR EXISTS (SELECT 1 FROM {_TABLE} WHERE seq = NEW.seq)"
    f" OR EXISTS (SELECT 1 FROM {_TABLE}"
    " WHERE account_id = NEW.account_id AND version = NEW.version)"
    f" BEGIN SELECT RAISE(ABORT, '{_TAKEN}'); END",
)


def upgrade() -> None:
    op.add_column(
        "ledger_account",
        sa.Column("terms_version", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.create_table(
        _TABLE,
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("coop_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("terms_digest", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{_TABLE}"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=f"fk_{_TABLE}_account_id_ledger_account"
        ),
        sa.UniqueConstraint("account_id", "version", name=f"uq_{_TABLE}_account_id_version"),
        sa.CheckConstraint("version > 0", name=f"ck_{_TABLE}_version"),
        sa.CheckConstraint("status IN ('active', 'frozen', 'closed')", name=f"ck_{_TABLE}_status"),
    )
    is_postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_TRIGGERS if is_postgres else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    versioned = "terms_version <> 0 AND terms_digest IS NOT NULL"
    op.execute(
        "INSERT INTO ledger_account_unsealed (account_id, coop_id)"
        f" SELECT id, coop_id FROM ledger_account WHERE {versioned}"
        " AND id NOT IN (SELECT account_id FROM ledger_account_unsealed)"
    )
    op.execute(f"UPDATE ledger_account SET terms_digest = NULL WHERE {versioned}")
    # The table's triggers go with it.
    op.drop_table(_TABLE)
    op.drop_column("ledger_account", "terms_version")
