"""Each ledger account carries a keyed digest of its terms.

`ledger_account.terms_digest` is HMAC-SHA256, under the sealing key, of the account's id,
ref, cooperative, currency, kind, status and limits (`ledger.digest.account_terms_digest`).
The ledger writes it when it opens an account and when it changes an account's status;
postings never touch it. `kopnet audit verify` recomputes it, so an overdraft widened, a
cap raised or a frozen account unfrozen behind the ledger's back is a finding. A migration
does not know the key, so accounts opened before this revision keep a NULL digest, which
the audit reports as `account_terms_unsealed`.

Both engines add and drop a plain nullable column in place (SQLite 3.35 or later drops it
without copying the table, so the table's triggers stay).

Downgrade: the column and every digest in it are dropped.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLE = "ledger_account"
_COLUMN = "terms_digest"


def upgrade() -> None:
    op.add_column(_TABLE, sa.Column(_COLUMN, sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column(_TABLE, _COLUMN)
