"""The fingerprints of the NIK keys, so that a mistyped key is refused before it is used.

A key id stands for one key for good: NIKs encrypted under it are read with it, and the
lookup key's hashes are what a NIK is found by. `interchange_nik_key` records, by key id
(and, for the lookup key, by a name no key id can have), HMAC-SHA256 of a fixed text under
the key, which reveals nothing of the key. The registry records the fingerprints of a
vault's keys the first time it checks them and refuses a vault whose key differs from the
one recorded under its name (`nik_key_mismatch`). A migration does not know the keys, so
the table starts empty: the first process to use NIKs after the upgrade records its keys,
once a NIK already stored under each of them reads with them (and matches its hash).

Both engines create the new table in place; no existing table changes.

Downgrade: the table is dropped (the fingerprints are recorded again after an upgrade).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TABLE = "interchange_nik_key"


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
