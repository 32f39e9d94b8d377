"""Rows of merchants: loading, inserting and replaying them.

The shell behind `interchange.registry`'s merchants: every function takes a connection
inside the caller's transaction and never commits. A merchant's natural key is (coop_id,
merchant_no); its network merchant id, what its QR codes carry, is derived from that key
(`interchange.registry_refs`). A registration locks the coop row before it looks for the
merchant, as member registrations do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, insert, select

from interchange import tables
from interchange.criteria import MerchantCriteria
from interchange.registry_errors import RegistryErrorCode
from interchange.registry_model import Coop, Merchant, MerchantSpec, ParticipantStatus
from interchange.registry_refs import network_merchant_id
from interchange.registry_store import columns, fail, load_coop, require_active, view

__all__ = ["insert_merchant", "load_merchant", "replay_merchant", "row_to_merchant"]


def row_to_merchant(row: Row[Any]) -> Merchant:
    """The `Merchant` view of a merchant row."""
    status, criteria = ParticipantStatus(row.status), MerchantCriteria(row.criteria)
    return view(Merchant, row, status=status, criteria=criteria)


def load_merchant(conn: Connection, where: ColumnElement[bool]) -> Merchant:
    """The merchant matching `where`; `merchant_not_found` otherwise."""
    row = conn.execute(select(tables.merchant).where(where)).first()
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
    """Insert the merchant row with its wallet account id."""
    _coop, existing = replay_merchant(conn, spec)
    if existing is not None:
        return existing
    values = columns(spec) | {
        "network_merchant_id": network_merchant_id(spec.coop_id, spec.merchant_no),
        "status": ParticipantStatus.ACTIVE.value,
        "wallet_account_id": wallet_account_id,
        "created_at": now,
    }
    query = insert(tables.merchant).values(values).returning(tables.merchant)
    return row_to_merchant(conn.execute(query).one())
