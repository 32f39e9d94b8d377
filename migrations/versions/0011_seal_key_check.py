"""The fingerprint of the sealing key, so that a wrong key is refused before it is used.

Every digest and chain link is keyed by `KOPNET_SEAL_KEY`: entries, links and account
terms written under another key never verify under the right one, and the chain is
append-only, so links sealed under a wrong key would be reported as broken for good.
`ledger_seal_key` records, under one fixed name, HMAC-SHA256 of a fixed text under the key
(`ledger.digest.seal_key_fingerprint`), which reveals nothing of the key. The ledger
records it the first time it checks its key and refuses a key whose fingerprint differs
(`seal_key_mismatch`). A migration does not know the key, so the table starts empty: the
first process to check after the upgrade records its key, once some of what is already
stored (the oldest or newest chain link, entry digest or account terms digest) verifies
under it (`ledger.seal_key`).

Both engines create the new table in place; no existing table changes.

Downgrade: the table is dropped (the fingerprint is recorded again after an upgrade).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TABLE = "ledger_seal_key"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("key_name", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_name", name=f"pk_{_TABLE}"),
        sa.CheckConstraint("length(fingerprint) = 64", name=f"ck_{_TABLE}_fingerprint"),
    )


def downgrade() -> None:
    op.drop_table(_TABLE)
