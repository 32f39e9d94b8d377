"""The interchange: participants, members and their wallets, merchants, payments,
per-window obligations between cooperatives, members' daily spending, fee schedules.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STATUS = "status IN ('active', 'suspended', 'closed')"


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _ledger_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["ledger_account.id"], name=f"fk_{table}_{column}_ledger_account"
    )


def _coop_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["interchange_coop.id"], name=f"fk_{table}_{column}_interchange_coop"
    )


def _create_coop() -> None:
    t = "interchange_coop"
    op.create_table(
        t,
        _id(),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("legal_name", sa.String(200), nullable=False),
        sa.Column("registration_no", sa.String(64), nullable=False),
        sa.Column("settlement_bank_code", sa.String(11), nullable=False),
        sa.Column("settlement_account_no", sa.String(34), nullable=False),
        sa.Column("settlement_account_name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("is_network", sa.Boolean, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net_debit_cap_minor", sa.BigInteger, nullable=False),
        sa.Column("cash_account_id", sa.BigInteger, nullable=False),
        sa.Column("fee_account_id", sa.BigInteger, nullable=False),
        sa.Column("due_account_id", sa.BigInteger, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("code", name=f"uq_{t}_code"),
        sa.UniqueConstraint("registration_no", name=f"uq_{t}_registration_no"),
        _ledger_fk(t, "cash_account_id"),
        _ledger_fk(t, "fee_account_id"),
        _ledger_fk(t, "due_account_id"),
        sa.CheckConstraint(_STATUS, name=f"ck_{t}_status"),
        sa.CheckConstraint("net_debit_cap_minor >= 0", name=f"ck_{t}_cap"),
    )


def _create_member() -> None:
    t = "interchange_member"
    op.create_table(
        t,
        _id(),
        sa.Column("coop_id", sa.BigInteger, nullable=False),
        sa.Column("member_no", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("nik_ciphertext", sa.Text, nullable=False),
        sa.Column("nik_key_id", sa.String(16), nullable=False),
        sa.Column("nik_lookup", sa.String(64), nullable=False),
        sa.Column("kyc_tier", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("coop_id", "member_no", name=f"uq_{t}_coop_id_member_no"),
        _coop_fk(t, "coop_id"),
        sa.CheckConstraint(_STATUS, name=f"ck_{t}_status"),
        sa.CheckConstraint("kyc_tier IN ('basic', 'verified')", name=f"ck_{t}_kyc_tier"),
    )
    op.create_index(f"ix_{t}_nik_lookup", t, ["nik_lookup"])
    w = "interchange_member_wallet"
    op.create_table(
        w,
        sa.Column("account_id", sa.BigInteger, nullable=False),
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.Column("coop_id", sa.BigInteger, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=f"pk_{w}"),
        sa.UniqueConstraint("member_id", "label", name=f"uq_{w}_member_id_label"),
        _ledger_fk(w, "account_id"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["interchange_member.id"], name=f"fk_{w}_member_id_interchange_member"
        ),
    )
    op.create_index(f"ix_{w}_member_id", w, ["member_id"])


def _create_merchant() -> None:
    t = "interchange_merchant"
    op.create_table(
        t,
        _id(),
        sa.Column("coop_id", sa.BigInteger, nullable=False),
        sa.Column("merchant_no", sa.String(32), nullable=False),
        sa.Column("network_merchant_id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(25), nullable=False),
        sa.Column("city", sa.String(15), nullable=False),
        sa.Column("postal_code", sa.String(10), nullable=False),
        sa.Column("mcc", sa.String(4), nullable=False),
        sa.Column("criteria", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wallet_account_id", sa.BigInteger, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("coop_id", "merchant_no", name=f"uq_{t}_coop_id_merchant_no"),
        sa.UniqueConstraint("network_merchant_id", name=f"uq_{t}_network_merchant_id"),
        _coop_fk(t, "coop_id"),
        _ledger_fk(t, "wallet_account_id"),
        sa.CheckConstraint(_STATUS, name=f"ck_{t}_status"),
        sa.CheckConstraint(
            "criteria IN ('UMI', 'UKE', 'UME', 'UBE', 'URE')", name=f"ck_{t}_criteria"
        ),
    )


def _create_payment() -> None:
    t = "interchange_payment"
    amounts = [
        "amount_minor",
        "extra_minor",
        "fee_minor",
        "issuer_fee_minor",
        "acquirer_fee_minor",
        "network_fee_minor",
    ]
    op.create_table(
        t,
        _id(),
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issuer_coop_id", sa.BigInteger, nullable=False),
        sa.Column("acquirer_coop_id", sa.BigInteger, nullable=False),
        sa.Column("payer_account_id", sa.BigInteger, nullable=False),
        sa.Column("payee_account_id", sa.BigInteger, nullable=False),
        sa.Column("merchant_id", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        *[sa.Column(name, sa.BigInteger, nullable=False) for name in amounts[:3]],
        sa.Column("fee_bearer", sa.String(16), nullable=False),
        *[sa.Column(name, sa.BigInteger, nullable=False) for name in amounts[3:]],
        sa.Column("schedule_version", sa.Integer, nullable=True),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("original_payment_id", sa.String(64), nullable=True),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("window_date", sa.Date, nullable=True),
        sa.Column("request_json", sa.Text, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("payment_id", name=f"uq_{t}_payment_id"),
        _coop_fk(t, "issuer_coop_id"),
        _coop_fk(t, "acquirer_coop_id"),
        sa.CheckConstraint("amount_minor > 0", name=f"ck_{t}_amount"),
        sa.CheckConstraint(
            "extra_minor >= 0 AND fee_minor >= 0 AND issuer_fee_minor >= 0"
            " AND acquirer_fee_minor >= 0 AND network_fee_minor >= 0",
            name=f"ck_{t}_nonnegative",
        ),
        sa.CheckConstraint(
            "fee_minor = issuer_fee_minor + acquirer_fee_minor + network_fee_minor",
            name=f"ck_{t}_split",
        ),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor + extra_minor",
            name=f"ck_{t}_refunded",
        ),
    )
    op.create_index(f"ix_{t}_original_payment_id", t, ["original_payment_id"])
    op.create_index(f"ix_{t}_window_date", t, ["window_date"])
    op.create_index(f"ix_{t}_issuer", t, ["issuer_coop_id", "created_at"])
    op.create_index(f"ix_{t}_acquirer", t, ["acquirer_coop_id", "created_at"])


def _create_running_totals() -> None:
    t = "interchange_obligation"
    op.create_table(
        t,
        sa.Column("window_date", sa.Date, nullable=False),
        sa.Column("debtor_coop_id", sa.BigInteger, nullable=False),
        sa.Column("creditor_coop_id", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("payment_count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "window_date", "debtor_coop_id", "creditor_coop_id", "currency", name=f"pk_{t}"
        ),
        sa.CheckConstraint("debtor_coop_id <> creditor_coop_id", name=f"ck_{t}_pair"),
        sa.CheckConstraint("amount_minor >= 0 AND payment_count >= 0", name=f"ck_{t}_amount"),
    )
    d = "interchange_member_daily"
    op.create_table(
        d,
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("spent_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("member_id", "business_date", name=f"pk_{d}"),
        sa.CheckConstraint("spent_minor >= 0", name=f"ck_{d}_spent"),
    )
    f = "interchange_fee_schedule"
    op.create_table(
        f,
        sa.Column("version", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("effective_from_date", sa.Date, nullable=False),
        sa.Column("rules_json", sa.Text, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("version", name=f"pk_{f}"),
    )
    c = "interchange_window_close"
    op.create_table(
        c,
        sa.Column("window_date", sa.Date, nullable=False, autoincrement=False),
        _ts("closed_at"),
        sa.PrimaryKeyConstraint("window_date", name=f"pk_{c}"),
    )


def upgrade() -> None:
    """Create the interchange's tables."""
    _create_coop()
    _create_member()
    _create_merchant()
    _create_payment()
    _create_running_totals()


def downgrade() -> None:
    """Drop the interchange's tables; their data is lost (the ledger's is kept)."""
    for table in (
        "interchange_window_close",
        "interchange_fee_schedule",
        "interchange_member_daily",
        "interchange_obligation",
        "interchange_payment",
        "interchange_merchant",
        "interchange_member_wallet",
        "interchange_member",
        "interchange_coop",
    ):
        op.drop_table(table)
