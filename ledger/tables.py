"""The ledger's tables (SQLAlchemy Core), shared by PostgreSQL and SQLite.

Invariants the schema itself keeps, besides the triggers installed by the migration:
amounts are BIGINT minor units; a posting is never zero; an account's balance respects its
limits (CHECK); an entry id is unique; a hold has at most one resolution and an entry at
most one reversal (unique `target_seq`); each account's posted legs are numbered 1, 2, 3...
without repeats. Postings reference their entry through a deferred foreign key because the
ledger writes an entry's postings before the entry row: the entry's insert trigger then
refuses it unless its postings sum to zero per currency. An account's terms (ref, coop,
currency, kind, status, limits) carry a keyed digest that the audit checks, and each
change of them an event in an append-only, keyed history whose latest event per account
the account must match. The sealing key's fingerprint, recorded once under a fixed name,
is what every later key is compared with (`ledger.seal_key`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from ledger.timestamps import UtcDateTime

__all__ = [
    "NAMING_CONVENTION",
    "account",
    "account_event",
    "account_unsealed",
    "chain",
    "entry",
    "entry_seq",
    "metadata",
    "posting",
    "seal_key",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

entry_seq = Sequence("ledger_entry_seq", metadata=metadata, start=1)

account = Table(
    "ledger_account",
    metadata,
    # SQLite only auto-numbers an INTEGER PRIMARY KEY (the rowid); it is 64-bit there too.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("coop_id", BigInteger, nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("min_balance_minor", BigInteger, nullable=True),
    Column("max_balance_minor", BigInteger, nullable=True),
    Column("posted_minor", BigInteger, nullable=False),
    Column("pending_debit_minor", BigInteger, nullable=False),
    Column("pending_credit_minor", BigInteger, nullable=False),
    Column("posting_count", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # HMAC of the account's terms (`ledger.digest.account_terms_digest`), written when it
    # opens and when its status changes, never by a posting; NULL for an account opened
    # before migration 0008 (listed in `ledger_account_unsealed` until sealed).
    Column("terms_digest", String(64), nullable=True),
    # How many times its terms changed (each a status change, `account_event`), sealed with
    # them where not 0; 0 for every account until migration 0013.
    Column("terms_version", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
    CheckConstraint("pending_debit_minor >= 0 AND pending_credit_minor >= 0", name="pending"),
    CheckConstraint(
        "min_balance_minor IS NULL OR posted_minor - pending_debit_minor >= min_balance_minor",
        name="lower_limit",
    ),
    CheckConstraint(
        "max_balance_minor IS NULL OR posted_minor + pending_credit_minor <= max_balance_minor",
        name="upper_limit",
    ),
    CheckConstraint("posting_count >= 0", name="posting_count"),
)

# The accounts opened before migration 0008, whose terms have no digest yet: listed by
# migration 0009, taken off by `Ledger.seal_account_terms` as it seals them.
account_unsealed = Table(
    "ledger_account_unsealed",
    metadata,
    Column(
        "account_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("ledger_account.id"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("coop_id", BigInteger, nullable=False),
    # Listed by migration 0012, which removed the upper limit of a cooperative's due
    # account: its status, limit and digest as found, so that sealing never blesses terms
    # rewritten before the upgrade (`ledger.terms_sealing`). NULL for 0009's.
    Column("prior_status", String(16), nullable=True),
    Column("prior_max_balance_minor", BigInteger, nullable=True),
    Column("prior_terms_digest", String(64), nullable=True),
)

# The history of accounts' terms changes, append-only (migration 0013's triggers): one
# event per status change (and per account `seal-terms` records or seals once it has a
# history), numbered 1, 2, ... per account and linked in `seq` order into a keyed chain
# (`ledger.account_events`).
account_event = Table(
    "ledger_account_event",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("ledger_account.id"), nullable=False),
    Column("coop_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    # The digest the account was given with this version (NULL if it had none).
    Column("terms_digest", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("chain_hash", String(64), nullable=False),
    UniqueConstraint("account_id", "version"),
    CheckConstraint("version > 0", name="version"),
    CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
)

entry = Table(
    "ledger_entry",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry_id", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("target_seq", BigInteger, ForeignKey("ledger_entry.seq"), nullable=True, unique=True),
    Column("business_date", Date, nullable=False),
    Column("timeout_s", Integer, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("metadata_json", Text, nullable=True),
    Column("committed_at", UtcDateTime, nullable=False),
    Column("digest", String(64), nullable=False),
    CheckConstraint(
        "kind IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending',"
        " 'reversal')",
        name="kind",
    ),
    CheckConstraint("(kind = 'pending') = (expires_at IS NOT NULL)", name="expiry"),
    CheckConstraint("(kind IN ('posted', 'pending')) = (target_seq IS NULL)", name="target"),
)
Index("ix_ledger_entry_expires_at", entry.c.expires_at)

posting = Table(
    "ledger_posting",
    metadata,
    Column("entry_seq", BigInteger, primary_key=True),
    Column("leg_no", SmallInteger, primary_key=True),
    Column("account_id", BigInteger, ForeignKey("ledger_account.id"), nullable=False),
    Column("coop_id", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("is_pending", Boolean, nullable=False),
    Column("account_posting_no", BigInteger, nullable=True),
    Column("balance_after_minor", BigInteger, nullable=True),
    Column("committed_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(
        ["entry_seq"], ["ledger_entry.seq"], deferrable=True, initially="DEFERRED"
    ),
    CheckConstraint("amount_minor <> 0", name="nonzero"),
    CheckConstraint(
        "(is_pending AND account_posting_no IS NULL AND balance_after_minor IS NULL)"
        " OR (NOT is_pending AND account_posting_no IS NOT NULL"
        " AND balance_after_minor IS NOT NULL)",
        name="running",
    ),
)
Index(
    "uq_ledger_posting_account_no",
    posting.c.account_id,
    posting.c.account_posting_no,
    unique=True,
)
Index("ix_ledger_posting_account_time", posting.c.account_id, posting.c.committed_at)

chain = Table(
    "ledger_chain",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("entry_seq", BigInteger, ForeignKey("ledger_entry.seq"), nullable=False, unique=True),
    Column("chain_hash", String(64), nullable=False),
    Column("sealed_at", UtcDateTime, nullable=False),
)

# The fingerprint of the sealing key under `ledger.seal_key.SEAL_KEY_NAME`: recorded the
# first time a process checks its key, then only compared.
seal_key = Table(
    "ledger_seal_key",
    metadata,
    Column("key_name", String(16), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("length(fingerprint) = 64", name="fingerprint"),
)
