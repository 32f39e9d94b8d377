"""The settlement service's tables: windows, their history, positions and instructions.

A window row exists from the moment the window is closed; its status only moves along
closed -> settling -> settled (or settling -> closed by an abort before any payment is
booked), and every step is also written to `settlement_event` with who did it and when.
Positions are the window's multilateral net per cooperative (positive: the network owes
the cooperative). Instructions are the payments that settle them; a confirmed
instruction carries the bank's reference and the ledger entry that booked it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from ledger.tables import NAMING_CONVENTION
from ledger.timestamps import UtcDateTime

__all__ = ["REFERENCE_CHARS_MAX", "event", "instruction", "metadata", "position", "window"]

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_ID = BigInteger().with_variant(Integer(), "sqlite")
# The longest instruction reference the table holds; every issued one is shorter.
REFERENCE_CHARS_MAX = 32

window = Table(
    "settlement_window",
    metadata,
    Column("window_date", Date, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),
    Column("mode", String(16), nullable=True),
    Column("closed_at", UtcDateTime, nullable=False),
    Column("closed_by", String(64), nullable=False),
    Column("obligation_count", BigInteger, nullable=False),
    Column("recompute_ok", Boolean, nullable=True),
    Column("recomputed_at", UtcDateTime, nullable=True),
    Column("settled_at", UtcDateTime, nullable=True),
    CheckConstraint("status IN ('closed', 'settling', 'settled')", name="status"),
    CheckConstraint("mode IS NULL OR mode IN ('via_network', 'bilateral')", name="mode"),
)

event = Table(
    "settlement_event",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("window_date", Date, nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("detail", Text, nullable=False),
)

position = Table(
    "settlement_position",
    metadata,
    Column("window_date", Date, primary_key=True),
    Column("coop_id", BigInteger, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("net_minor", BigInteger, nullable=False),
    Column("payable_minor", BigInteger, nullable=False),
    Column("receivable_minor", BigInteger, nullable=False),
    CheckConstraint("payable_minor >= 0 AND receivable_minor >= 0", name="gross"),
    CheckConstraint("net_minor = receivable_minor - payable_minor", name="net"),
)

instruction = Table(
    "settlement_instruction",
    metadata,
    Column("id", _ID, primary_key=True),
    Column("window_date", Date, nullable=False),
    Column("round", Integer, nullable=False),
    Column("reference", String(REFERENCE_CHARS_MAX), nullable=False, unique=True),
    Column("payer_coop_id", BigInteger, nullable=True),
    Column("payee_coop_id", BigInteger, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("internal", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("bank_reference", String(64), nullable=True),
    Column("confirmed_at", UtcDateTime, nullable=True),
    Column("confirmed_by", String(64), nullable=True),
    Column("entry_id", String(64), nullable=True),
    CheckConstraint("amount_minor > 0", name="amount"),
    CheckConstraint("status IN ('pending', 'confirmed', 'cancelled')", name="status"),
    CheckConstraint("payer_coop_id IS NOT NULL OR payee_coop_id IS NOT NULL", name="party"),
)
Index("ix_settlement_instruction_window", instruction.c.window_date, instruction.c.round)
