"""The interchange's tables: participants, members, merchants, payments and obligations.

Every row that belongs to a cooperative carries its `coop_id`. The network operator is a
participant too (`is_network`), so fees it earns and what it is owed are booked like any
other cooperative's. Ledger accounts are referenced by id (the interchange depends on the
ledger, never the reverse). Amounts are BIGINT minor units with CHECK constraints.
Obligations are running sums per settlement window and ordered pair of cooperatives,
updated in the same transaction as the payments that create them.
The fingerprint of each NIK key a process has used is recorded once and never changed, so
that a key id (or the lookup key) cannot come to stand for another key (`interchange.nik`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ledger.tables import NAMING_CONVENTION
from ledger.tables import account as ledger_account
from ledger.timestamps import UtcDateTime

__all__ = [
    "coop",
    "fee_schedule",
    "member",
    "member_daily",
    "member_wallet",
    "merchant",
    "metadata",
    "nik_key",
    "obligation",
    "payment",
    "window_close",
]

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_ID = BigInteger().with_variant(Integer(), "sqlite")
_STATUS = "status IN ('active', 'suspended', 'closed')"

coop = Table(
    "interchange_coop",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("legal_name", String(200), nullable=False),
    Column("registration_no", String(64), nullable=False, unique=True),
    Column("settlement_bank_code", String(11), nullable=False),
    Column("settlement_account_no", String(34), nullable=False),
    Column("settlement_account_name", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_network", Boolean, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net_debit_cap_minor", BigInteger, nullable=False),
    Column("cash_account_id", BigInteger, ForeignKey(ledger_account.c.id), nullable=False),
    Column("fee_account_id", BigInteger, ForeignKey(ledger_account.c.id), nullable=False),
    Column("due_account_id", BigInteger, ForeignKey(ledger_account.c.id), nullable=False),
    # The network's fee and due accounts for this coop's payments (the network's own for it).
    Column("network_fee_account_id", BigInteger, ForeignKey(ledger_account.c.id), nullable=False),
    Column("network_due_account_id", BigInteger, ForeignKey(ledger_account.c.id), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint(_STATUS, name="status"),
    CheckConstraint("net_debit_cap_minor >= 0", name="cap"),
)

# One network operator: a second `is_network` row is refused by the database too.
Index(
    "uq_interchange_coop_network",
    coop.c.is_network,
    unique=True,
    postgresql_where=coop.c.is_network,
    sqlite_where=coop.c.is_network,
)

member = Table(
    "interchange_member",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("coop_id", BigInteger, ForeignKey("interchange_coop.id"), nullable=False),
    Column("member_no", String(32), nullable=False),
    Column("name", String(100), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("nik_ciphertext", Text, nullable=False),
    Column("nik_key_id", String(16), nullable=False),
    Column("nik_lookup", String(64), nullable=False, index=True),
    Column("kyc_tier", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("coop_id", "member_no"),
    CheckConstraint(_STATUS, name="status"),
    CheckConstraint("kyc_tier IN ('basic', 'verified')", name="kyc_tier"),
)

member_wallet = Table(
    "interchange_member_wallet",
    metadata,
    Column("account_id", BigInteger, ForeignKey(ledger_account.c.id), primary_key=True),
    Column(
        "member_id", BigInteger, ForeignKey("interchange_member.id"), nullable=False, index=True
    ),
    Column("coop_id", BigInteger, nullable=False),
    Column("label", String(32), nullable=False),
    UniqueConstraint("member_id", "label"),
)

merchant = Table(
    "interchange_merchant",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("coop_id", BigInteger, ForeignKey("interchange_coop.id"), nullable=False),
    Column("merchant_no", String(32), nullable=False),
    Column("network_merchant_id", String(20), nullable=False, unique=True),
    Column("name", String(25), nullable=False),
    Column("city", String(15), nullable=False),
    Column("postal_code", String(10), nullable=False),
    Column("mcc", String(4), nullable=False),
    Column("criteria", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("wallet_account_id", BigInteger, ForeignKey(ledger_account.c.id), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("coop_id", "merchant_no"),
    CheckConstraint(_STATUS, name="status"),
    CheckConstraint("criteria IN ('UMI', 'UKE', 'UME', 'UBE', 'URE')", name="criteria"),
)

payment = Table(
    "interchange_payment",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("payment_id", String(64), nullable=False, unique=True),
    Column("kind", String(24), nullable=False),
    Column("status", String(16), nullable=False),
    Column("issuer_coop_id", BigInteger, ForeignKey("interchange_coop.id"), nullable=False),
    Column("acquirer_coop_id", BigInteger, ForeignKey("interchange_coop.id"), nullable=False),
    Column("payer_account_id", BigInteger, nullable=False),
    Column("payee_account_id", BigInteger, nullable=False),
    Column("merchant_id", BigInteger, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("extra_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("fee_bearer", String(16), nullable=False),
    Column("issuer_fee_minor", BigInteger, nullable=False),
    Column("acquirer_fee_minor", BigInteger, nullable=False),
    Column("network_fee_minor", BigInteger, nullable=False),
    Column("schedule_version", Integer, nullable=True),
    Column("entry_id", String(64), nullable=False),
    Column("original_payment_id", String(64), nullable=True, index=True),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("window_date", Date, nullable=True, index=True),
    Column("request_json", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount"),
    CheckConstraint(
        "extra_minor >= 0 AND fee_minor >= 0 AND issuer_fee_minor >= 0"
        " AND acquirer_fee_minor >= 0 AND network_fee_minor >= 0",
        name="nonnegative",
    ),
    CheckConstraint(
        "fee_minor = issuer_fee_minor + acquirer_fee_minor + network_fee_minor", name="split"
    ),
    CheckConstraint(
        "refunded_minor >= 0 AND refunded_minor <= amount_minor + extra_minor", name="refunded"
    ),
)
Index("ix_interchange_payment_issuer", payment.c.issuer_coop_id, payment.c.created_at)
Index("ix_interchange_payment_acquirer", payment.c.acquirer_coop_id, payment.c.created_at)

obligation = Table(
    "interchange_obligation",
    metadata,
    Column("window_date", Date, primary_key=True),
    Column("debtor_coop_id", BigInteger, primary_key=True),
    Column("creditor_coop_id", BigInteger, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("payment_count", BigInteger, nullable=False),
    CheckConstraint("debtor_coop_id <> creditor_coop_id", name="pair"),
    CheckConstraint("amount_minor >= 0 AND payment_count >= 0", name="amount"),
)
# A coop's obligations as either party, for the check before it closes
# (`interchange.coop_closing`); the key leads with the window date.
Index("ix_interchange_obligation_debtor", obligation.c.debtor_coop_id)
Index("ix_interchange_obligation_creditor", obligation.c.creditor_coop_id)

member_daily = Table(
    "interchange_member_daily",
    metadata,
    Column("member_id", BigInteger, primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("spent_minor", BigInteger, nullable=False),
    CheckConstraint("spent_minor >= 0", name="spent"),
)

fee_schedule = Table(
    "interchange_fee_schedule",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("effective_from_date", Date, nullable=False),
    Column("rules_json", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

window_close = Table(
    "interchange_window_close",
    metadata,
    Column("window_date", Date, primary_key=True, autoincrement=False),
    Column("closed_at", UtcDateTime, nullable=False),
)

# The fingerprint of each NIK key by its id, and of the lookup key by a name no key id can
# have (`interchange.nik.LOOKUP_KEY_NAME`): recorded the first time a vault holding it is
# checked, then only compared.
nik_key = Table(
    "interchange_nik_key",
    metadata,
    Column("key_name", String(16), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("length(fingerprint) = 64", name="fingerprint"),
)
