"""The ledger: accounts, entries, postings, the seal chain, and the triggers that guard them.

Triggers on both engines make history append-only (UPDATE and DELETE on entries, postings
and the chain are refused), refuse postings added to an entry already recorded, and refuse
an entry whose postings do not sum to zero per currency or that has fewer than two of them
when its kind needs legs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_LEGGED_KINDS = "('posted', 'pending', 'post_pending', 'reversal')"
_HISTORY = ("ledger_entry", "ledger_posting", "ledger_chain")

_PG_FUNCTIONS = [
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END $$
    """,
    """
    CREATE FUNCTION ledger_check_new_postings() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM new_postings n JOIN ledger_entry e ON e.seq = n.entry_seq) THEN
            RAISE EXCEPTION 'postings cannot be added to a recorded entry'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION ledger_check_new_entries() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM new_entries n JOIN ledger_posting p ON p.entry_seq = n.seq
            GROUP BY p.entry_seq, p.currency HAVING sum(p.amount_minor) <> 0
        ) THEN
            RAISE EXCEPTION 'entry_unbalanced: postings must sum to zero per currency'
                USING ERRCODE = 'check_violation';
        END IF;
        IF EXISTS (
            SELECT 1 FROM new_entries n WHERE n.kind IN {_LEGGED_KINDS}
            AND (SELECT count(*) FROM ledger_posting p WHERE p.entry_seq = n.seq) < 2
        ) THEN
            RAISE EXCEPTION 'legs_too_few: an entry of this kind needs two postings'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
]

_PG_TRIGGERS = [
    *[
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        for table in _HISTORY
    ],
    *[
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        for table in _HISTORY
    ],
    "CREATE TRIGGER ledger_posting_into_recorded AFTER INSERT ON ledger_posting"
    " REFERENCING NEW TABLE AS new_postings"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_new_postings()",
    "CREATE TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry"
    " REFERENCING NEW TABLE AS new_entries"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_new_entries()",
]

_SQLITE_TRIGGERS = [
    *[
        f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, 'ledger history is append-only'); END"
        for table in _HISTORY
        for op_name in ("UPDATE", "DELETE")
    ],
    "CREATE TRIGGER ledger_posting_into_recorded BEFORE INSERT ON ledger_posting"
    " WHEN EXISTS (SELECT 1 FROM ledger_entry WHERE seq = NEW.entry_seq)"
    " BEGIN SELECT RAISE(ABORT, 'postings cannot be added to a recorded entry'); END",
    "CREATE TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry"
    " WHEN EXISTS (SELECT 1 FROM ledger_posting WHERE entry_seq = NEW.seq"
    " GROUP BY currency HAVING sum(amount_minor) <> 0)"
    " BEGIN SELECT RAISE(ABORT, 'entry_unbalanced: postings must sum to zero per currency');"
    " END",
    "CREATE TRIGGER ledger_entry_legs AFTER INSERT ON ledger_entry"
    f" WHEN NEW.kind IN {_LEGGED_KINDS}"
    " AND (SELECT count(*) FROM ledger_posting WHERE entry_seq = NEW.seq) < 2"
    " BEGIN SELECT RAISE(ABORT, 'legs_too_few: an entry of this kind needs two postings');"
    " END",
]


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _create_account() -> None:
    op.create_table(
        "ledger_account",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("coop_id", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("min_balance_minor", sa.BigInteger, nullable=True),
        sa.Column("max_balance_minor", sa.BigInteger, nullable=True),
        sa.Column("posted_minor", sa.BigInteger, nullable=False),
        sa.Column("pending_debit_minor", sa.BigInteger, nullable=False),
        sa.Column("pending_credit_minor", sa.BigInteger, nullable=False),
        sa.Column("posting_count", sa.BigInteger, nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_account"),
        sa.UniqueConstraint("ref", name="uq_ledger_account_ref"),
        sa.CheckConstraint(
            "status IN ('active', 'frozen', 'closed')", name="ck_ledger_account_status"
        ),
        sa.CheckConstraint(
            "pending_debit_minor >= 0 AND pending_credit_minor >= 0",
            name="ck_ledger_account_pending",
        ),
        sa.CheckConstraint(
            "min_balance_minor IS NULL OR posted_minor - pending_debit_minor >= min_balance_minor",
            name="ck_ledger_account_lower_limit",
        ),
        sa.CheckConstraint(
            "max_balance_minor IS NULL OR posted_minor + pending_credit_minor <= max_balance_minor",
            name="ck_ledger_account_upper_limit",
        ),
        sa.CheckConstraint("posting_count >= 0", name="ck_ledger_account_posting_count"),
    )
    op.create_index("ix_ledger_account_coop_id", "ledger_account", ["coop_id"])


def _create_entry() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("seq", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_seq", sa.BigInteger, nullable=True),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("timeout_s", sa.Integer, nullable=True),
        sa.Column("expires_at", _timestamp(), nullable=True),
        sa.Column("metadata_json", sa.Text, nullable=True),
        sa.Column("committed_at", _timestamp(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_ledger_entry"),
        sa.UniqueConstraint("entry_id", name="uq_ledger_entry_entry_id"),
        sa.UniqueConstraint("target_seq", name="uq_ledger_entry_target_seq"),
        sa.ForeignKeyConstraint(
            ["target_seq"], ["ledger_entry.seq"], name="fk_ledger_entry_target_seq_ledger_entry"
        ),
        sa.CheckConstraint(
            "kind IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending',"
            " 'reversal')",
            name="ck_ledger_entry_kind",
        ),
        sa.CheckConstraint(
            "(kind = 'pending') = (expires_at IS NOT NULL)", name="ck_ledger_entry_expiry"
        ),
        sa.CheckConstraint(
            "(kind IN ('posted', 'pending')) = (target_seq IS NULL)", name="ck_ledger_entry_target"
        ),
    )
    op.create_index("ix_ledger_entry_expires_at", "ledger_entry", ["expires_at"])


def _create_posting() -> None:
    op.create_table(
        "ledger_posting",
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
        sa.Column("leg_no", sa.SmallInteger, nullable=False),
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("coop_id", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("is_pending", sa.Boolean, nullable=False),
        sa.Column("account_posting_no", sa.BigInteger, nullable=True),
        sa.Column("balance_after_minor", sa.BigInteger, nullable=True),
        sa.Column("committed_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("entry_seq", "leg_no", name="pk_ledger_posting"),
        sa.ForeignKeyConstraint(
            ["entry_seq"],
            ["ledger_entry.seq"],
            name="fk_ledger_posting_entry_seq_ledger_entry",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_account.id"],
            name="fk_ledger_posting_account_id_ledger_account",
        ),
        sa.CheckConstraint("amount_minor <> 0", name="ck_ledger_posting_nonzero"),
        sa.CheckConstraint(
            "(is_pending AND account_posting_no IS NULL AND balance_after_minor IS NULL)"
            " OR (NOT is_pending AND account_posting_no IS NOT NULL"
            " AND balance_after_minor IS NOT NULL)",
            name="ck_ledger_posting_running",
        ),
    )
    op.create_index(
        "uq_ledger_posting_account_no",
        "ledger_posting",
        ["account_id", "account_posting_no"],
        unique=True,
    )
    op.create_index(
        "ix_ledger_posting_account_time", "ledger_posting", ["account_id", "committed_at"]
    )


def _create_chain() -> None:
    op.create_table(
        "ledger_chain",
        sa.Column("position", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("sealed_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_ledger_chain"),
        sa.UniqueConstraint("entry_seq", name="uq_ledger_chain_entry_seq"),
        sa.ForeignKeyConstraint(
            ["entry_seq"], ["ledger_entry.seq"], name="fk_ledger_chain_entry_seq_ledger_entry"
        ),
    )


def upgrade() -> None:
    """Create the ledger's tables, sequence and guard triggers."""
    is_postgres = op.get_bind().dialect.name == "postgresql"
    if is_postgres:
        op.execute("CREATE SEQUENCE ledger_entry_seq START 1")
    _create_account()
    _create_entry()
    _create_posting()
    _create_chain()
    statements = [*_PG_FUNCTIONS, *_PG_TRIGGERS] if is_postgres else _SQLITE_TRIGGERS
    if is_postgres:
        # Balances change on every posting: room on each page lets PostgreSQL update an
        # account in place (a HOT update) instead of touching its indexes.
        statements = [*statements, "ALTER TABLE ledger_account SET (fillfactor = 70)"]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    """Drop everything `upgrade` created; the data in the ledger is lost."""
    is_postgres = op.get_bind().dialect.name == "postgresql"
    for table in ("ledger_chain", "ledger_posting", "ledger_entry", "ledger_account"):
        op.drop_table(table)
    if is_postgres:
        op.execute("DROP SEQUENCE ledger_entry_seq")
        for function in (
            "ledger_refuse_change",
            "ledger_check_new_postings",
            "ledger_check_new_entries",
        ):
            op.execute(f"DROP FUNCTION {function}()")
