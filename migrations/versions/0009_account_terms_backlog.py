"""Accounts opened before 0008 are listed, so that their terms can be sealed once.

Migration 0008 gave every account a keyed digest of its terms, but a migration does not know
the sealing key, so the accounts that existed then kept a NULL digest. This revision lists
every account whose digest is NULL now in `ledger_account_unsealed`.
`kopnet ledger seal-terms` seals the terms of the listed accounts as they stand and takes
them off the list. The audit reports a listed account as `account_terms_unsealed`, and an
unlisted account without a digest as `account_terms_digest_missing`: the ledger writes a
digest with every account it opens, so only a change behind its back can remove one.

Both engines create the new table in place; no existing table changes.

Downgrade: the list is dropped (0008's NULL digests stay as they are).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLE = "ledger_account_unsealed"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column(
            "account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("coop_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_account.id"],
            name="fk_ledger_account_unsealed_account_id_ledger_account",
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_ledger_account_unsealed"),
    )
    op.execute(
        f"INSERT INTO {_TABLE} (account_id, coop_id)"
        " SELECT id, coop_id FROM ledger_account WHERE terms_digest IS NULL"
    )


def downgrade() -> None:
    op.drop_table(_TABLE)
