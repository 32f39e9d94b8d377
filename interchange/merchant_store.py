"""Rows of merchants: loading, inserting and replaying them.

The shell behind `interchange.registry`'s merchants: every function takes a connection
inside the caller's transaction and never commits. A merchant's natural key is (coop_id,
merchant_no); its network merchant id, what its QR codes carry, is derived from that key
(`interchange.registry_refs`). A registration locks the coop row before it looks for the
merchant, as member registrations do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, insert, select

from interchange import tables
from interchange.criteria import MerchantCriteria
from interchange.registry_errors import RegistryErrorCode
from interchange.registry_model import Coop, Merchant, MerchantSpec, ParticipantStatus
from interchange.registry_refs import network_merchant_id
from interchange.registry_store import (
    columns,
    fail,
    load_coop,
    require_active,
    set_row_status,
    view,
)
from interchange.wallet_status import apply_wallet_status

__all__ = [
    "insert_merchant",
    "load_merchant",
    "replay_merchant",
    "row_to_merchant",
    "set_merchant_status",
]


def row_to_merchant(row: Row[Any]) -> Merchant:
    """The `Merchant` view of a merchant row."""
    status, criteria = ParticipantStatus(row.status), MerchantCriteria(row.criteria)
    return view(Merchant, row, status=status, criteria=criteria)


def load_merchant(conn: Connection, where: ColumnElement[bool], *, lock: bool = False) -> Merchant:
    """The merchant matching `where` (locked if asked); `merchant_not_found` otherwise."""
    query = select(tables.merchant).where(where)
    # FOR NO KEY UPDATE, as the registry's other row locks.
    row = conn.execute(query.with_for_update(key_share=True) if lock else query).first()
    if row is None:
        raise fail(RegistryErrorCode.MERCHANT_NOT_FOUND, "no such merchant", "merchant_id")
    return row_to_merchant(row)


def replay_merchant(conn: Connection, spec: MerchantSpec) -> tuple[Coop, Merchant | None]:
    """Return the coop, and the merchant already registered with this spec or None.

    Order: `coop_not_found`; a replay or `merchant_exists_with_different_spec`;
    `coop_not_active`.
    """
    c = tables.merchant.c
    coop = load_coop(conn, tables.coop.c.id == spec.coop_id, lock=True)
    where = and_(c.coop_id == spec.coop_id, c.merchant_no == spec.merchant_no)
    row = conn.execute(select(tables.merchant).where(where)).first()
    if row is not None:
        existing = row_to_merchant(row)
        if existing.spec != spec:
            code = RegistryErrorCode.MERCHANT_EXISTS_WITH_DIFFERENT_SPEC
            raise fail(code, f"merchant {spec.merchant_no!r} exists differently", "merchant_no")
        return coop, existing
    require_active(coop)
    return coop, None


def insert_merchant(
    conn: Connection, spec: MerchantSpec, wallet_account_id: int, now: datetime
) -> Merchant:
    """Insert the merchant row with its wallet account id, in the registration's
    transaction (which holds the coop's lock and has found no merchant with this number:
    `replay_merchant`)."""
    values = columns(spec) | {
        "network_merchant_id": network_merchant_id(spec.coop_id, spec.merchant_no),
        "status": ParticipantStatus.ACTIVE.value,
        "wallet_account_id": wallet_account_id,
        "created_at": now,
    }
    query = insert(tables.merchant).values(values).returning(tables.merchant)
    return row_to_merchant(conn.execute(query).one())


def set_merchant_status(
    conn: Connection, merchant_id: int, new: ParticipantStatus, seal_key: bytes
) -> Merchant:
    """Store the merchant's new status with its wallet's (`apply_wallet_status`), under
    the merchant's lock."""
    current = load_merchant(conn, tables.merchant.c.id == merchant_id, lock=True)
    if not apply_wallet_status(conn, current.status, new, [current.wallet_account_id], seal_key):
        return current
    set_row_status(conn, tables.merchant, merchant_id, new)
    return replace(current, status=new)
