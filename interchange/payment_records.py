"""The interchange's payment rows as `PaymentRecord`s: building, inserting, loading, resolving.

Functions take a connection inside the caller's transaction and never commit. A payment
row is written once, with its plan; afterwards only the refunded amount of an original
and the status of an authorization change (`resolve_payments`; on PostgreSQL a batch sends
the same updates in its commit's pipeline, `interchange.payment_store_pg.write_batch`).
The originals a batch names are locked `FOR UPDATE` in id order, at their place in the
lock order of `interchange.payment_store`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, insert, select, update

from interchange.payment_model import PaymentKind, PaymentRecord, PaymentStatus
from interchange.routing import PaymentPlan
from interchange.tables import payment
from ledger.money import Money
from ledger.tables import entry as ledger_entry

__all__ = [
    "insert_payments",
    "load_hold_expiry",
    "load_payments",
    "payment_rows",
    "record_from_row",
    "records_of",
    "resolve_payments",
]


def record_from_row(row: Any) -> PaymentRecord:
    """The `PaymentRecord` of an `interchange_payment` row, its moment in UTC whatever the
    session's time zone (psycopg's own rows come in the server's)."""
    assert row.created_at.tzinfo is not None, "the column holds aware moments"
    currency = row.currency

    def money(value: int) -> Money:
        return Money(value, currency)

    return PaymentRecord(
        payment_id=row.payment_id,
        kind=PaymentKind(row.kind),
        status=PaymentStatus(row.status),
        issuer_coop_id=row.issuer_coop_id,
        acquirer_coop_id=row.acquirer_coop_id,
        payer_account_id=row.payer_account_id,
        payee_account_id=row.payee_account_id,
        merchant_id=row.merchant_id,
        amount=money(row.amount_minor),
        extra=money(row.extra_minor),
        fee=money(row.fee_minor),
        fee_bearer=row.fee_bearer,
        issuer_fee=money(row.issuer_fee_minor),
        acquirer_fee=money(row.acquirer_fee_minor),
        network_fee=money(row.network_fee_minor),
        schedule_version=row.schedule_version,
        entry_id=row.entry_id,
        original_payment_id=row.original_payment_id,
        refunded=money(row.refunded_minor),
        business_date=row.business_date,
        window_date=row.window_date,
        request_json=row.request_json,
        created_at=row.created_at.astimezone(UTC),
    )


def load_payments(
    conn: Connection, payment_ids: Collection[str], *, lock: bool = False
) -> dict[str, PaymentRecord]:
    """The recorded payments among `payment_ids`; locked `FOR UPDATE` in id order if asked."""
    if not payment_ids:
        return {}
    query = select(payment).where(payment.c.payment_id.in_(sorted(payment_ids)))
    if lock:
        query = query.order_by(payment.c.id).with_for_update()
    return {row.payment_id: record_from_row(row) for row in conn.execute(query)}


def payment_rows(
    plans: Sequence[PaymentPlan], now: datetime, window_date: date
) -> list[dict[str, Any]]:
    """One `interchange_payment` row per plan."""
    return [_payment_row(plan, now, window_date) for plan in plans]


def insert_payments(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert `payment_rows` (`records_of` gives them as records)."""
    if rows:
        conn.execute(insert(payment), rows)


def records_of(rows: list[dict[str, Any]]) -> list[PaymentRecord]:
    """The records of freshly written payment rows."""
    # Attribute access over each dict, so freshly inserted rows read like fetched ones.
    return [record_from_row(SimpleNamespace(**row)) for row in rows]


def _payment_row(plan: PaymentPlan, now: datetime, window_date: date) -> dict[str, Any]:
    d = plan.draft
    return {
        "payment_id": plan.payment_id,
        "kind": d.kind.value,
        "status": d.status.value,
        "issuer_coop_id": d.issuer_coop_id,
        "acquirer_coop_id": d.acquirer_coop_id,
        "payer_account_id": d.payer_account_id,
        "payee_account_id": d.payee_account_id,
        "merchant_id": d.merchant_id,
        "currency": d.amount.currency,
        "amount_minor": d.amount.amount_minor,
        "extra_minor": d.extra.amount_minor,
        "fee_minor": d.fee.amount_minor,
        "fee_bearer": d.fee_bearer,
        "issuer_fee_minor": d.issuer_fee.amount_minor,
        "acquirer_fee_minor": d.acquirer_fee.amount_minor,
        "network_fee_minor": d.network_fee.amount_minor,
        "schedule_version": d.schedule_version,
        "entry_id": d.entry_id,
        "original_payment_id": d.original_payment_id,
        "refunded_minor": 0,
        "business_date": window_date,
        "window_date": window_date if plan.obligations else None,
        "request_json": plan.request_json,
        "created_at": now,
    }


def resolve_payments(
    conn: Connection, refunds: Mapping[str, int], statuses: Mapping[str, PaymentStatus]
) -> None:
    """Add refunded amounts to originals and move authorizations to their new status."""
    for payment_id, amount in sorted(refunds.items()):
        conn.execute(
            update(payment)
            .where(payment.c.payment_id == payment_id)
            .values(refunded_minor=payment.c.refunded_minor + amount)
        )
    for payment_id, status in sorted(statuses.items()):
        conn.execute(
            update(payment).where(payment.c.payment_id == payment_id).values(status=status.value)
        )


def load_hold_expiry(
    conn: Connection, authorizations: Iterable[PaymentRecord]
) -> dict[str, datetime]:
    """When each authorization's hold expires, by payment id."""
    by_entry = {
        a.entry_id: a.payment_id for a in authorizations if a.kind is PaymentKind.AUTHORIZATION
    }
    if not by_entry:
        return {}
    query = select(ledger_entry.c.entry_id, ledger_entry.c.expires_at).where(
        ledger_entry.c.entry_id.in_(sorted(by_entry))
    )
    return {
        by_entry[row.entry_id]: row.expires_at
        for row in conn.execute(query)
        if row.expires_at is not None
    }
