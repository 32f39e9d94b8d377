"""A coop's obligations can be found by either party without reading every window.

Closing a coop checks, under its lock, that it owes and is owed nothing unsettled
(`interchange.coop_closing`). The obligations' key leads with the window date, so without
these indexes that check reads the whole table, which grows by every pair of coops that
traded, every night.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_interchange_obligation_debtor": "debtor_coop_id",
    "ix_interchange_obligation_creditor": "creditor_coop_id",
}


def upgrade() -> None:
    for name, column in _INDEXES.items():
        op.create_index(name, "interchange_obligation", [column])


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="interchange_obligation")
