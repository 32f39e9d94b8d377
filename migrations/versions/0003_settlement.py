"""Settlement: windows and their history, net positions, settlement instructions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the settlement tables."""
    w = "settlement_window"
    op.create_table(
        w,
        sa.Column("window_date", sa.Date, nullable=False, autoincrement=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=True),
        _ts("closed_at"),
        sa.Column("closed_by", sa.String(64), nullable=False),
        sa.Column("obligation_count", sa.BigInteger, nullable=False),
        sa.Column("recompute_ok", sa.Boolean, nullable=True),
        _ts("recomputed_at", nullable=True),
        _ts("settled_at", nullable=True),
        sa.PrimaryKeyConstraint("window_date", name=f"pk_{w}"),
        sa.CheckConstraint("status IN ('closed', 'settling', 'settled')", name=f"ck_{w}_status"),
        sa.CheckConstraint(
            "mode IS NULL OR mode IN ('via_network', 'bilateral')", name=f"ck_{w}_mode"
        ),
    )
    e = "settlement_event"
    op.create_table(
        e,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("window_date", sa.Date, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        _ts("at"),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{e}"),
    )
    op.create_index(f"ix_{e}_window_date", e, ["window_date"])
    p = "settlement_position"
    op.create_table(
        p,
        sa.Column("window_date", sa.Date, nullable=False),
        sa.Column("coop_id", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net_minor", sa.BigInteger, nullable=False),
        sa.Column("payable_minor", sa.BigInteger, nullable=False),
        sa.Column("receivable_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("window_date", "coop_id", "currency", name=f"pk_{p}"),
        sa.CheckConstraint("payable_minor >= 0 AND receivable_minor >= 0", name=f"ck_{p}_gross"),
        sa.CheckConstraint("net_minor = receivable_minor - payable_minor", name=f"ck_{p}_net"),
    )
    i = "settlement_instruction"
    op.create_table(
        i,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("window_date", sa.Date, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("payer_coop_id", sa.BigInteger, nullable=True),
        sa.Column("payee_coop_id", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("internal", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bank_reference", sa.String(64), nullable=True),
        _ts("confirmed_at", nullable=True),
        sa.Column("confirmed_by", sa.String(64), nullable=True),
        sa.Column("entry_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{i}"),
        sa.UniqueConstraint("reference", name=f"uq_{i}_reference"),
        sa.CheckConstraint("amount_minor > 0", name=f"ck_{i}_amount"),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled')", name=f"ck_{i}_status"
        ),
        sa.CheckConstraint(
            "payer_coop_id IS NOT NULL OR payee_coop_id IS NOT NULL", name=f"ck_{i}_party"
        ),
    )
    op.create_index("ix_settlement_instruction_window", i, ["window_date", "round"])


def downgrade() -> None:
    """Drop the settlement tables; settlement history is lost (the ledger keeps its entries)."""
    for table in (
        "settlement_instruction",
        "settlement_position",
        "settlement_event",
        "settlement_window",
    ):
        op.drop_table(table)
