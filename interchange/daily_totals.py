"""Members' daily totals: what each member sent on a business date, against their limit.

A payment that counts against its payer's daily limit (`PaymentPlan.daily_minor`) adds to
the payer's total of the batch's business date. An authorization that resolves taking
less than it counted (voided, expired, captured for less) gives the rest back to the total
of the date it counted against (`DailyRelease`), in the transaction that resolves it; a
total never goes below zero. Totals are locked in key order (member id, then date), after
the payments a transaction names and before the ledger's accounts (the lock order of
`interchange.payment_store`). Functions never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, case, select, tuple_, update

from interchange.payment_model import PaymentKind, PaymentRecord, PaymentStatus
from interchange.routing_model import DailyRelease
from interchange.tables import member_daily, member_wallet
from ledger.db import dialect_insert
from ledger.store import row_ids

__all__ = [
    "DailyKey",
    "add_daily",
    "daily_rows",
    "load_payers",
    "lock_daily",
    "releasable_keys",
    "release_daily",
    "release_rows",
]

# A daily total's key: (member id, business date).
DailyKey = tuple[int, date]


def load_payers(conn: Connection, payments: Iterable[PaymentRecord]) -> dict[str, int]:
    """The member each authorization among `payments` holds from, by payment id."""
    by_account: defaultdict[int, list[str]] = defaultdict(list)
    for record in payments:
        if record.kind is PaymentKind.AUTHORIZATION:
            by_account[record.payer_account_id].append(record.payment_id)
    if not by_account:
        return {}
    wallet = member_wallet.c
    query = select(wallet.account_id, wallet.member_id).where(
        wallet.account_id.in_(sorted(by_account))
    )
    return {
        payment_id: row.member_id
        for row in conn.execute(query)
        for payment_id in by_account[row.account_id]
    }


def releasable_keys(payments: Iterable[PaymentRecord], payers: Mapping[str, int]) -> set[DailyKey]:
    """The totals the open authorizations among `payments` would give back to."""
    return {
        (payers[p.payment_id], p.business_date)
        for p in payments
        if p.kind is PaymentKind.AUTHORIZATION and p.status is PaymentStatus.AUTHORIZED
    }


def lock_daily(
    conn: Connection,
    member_ids: Collection[int],
    day: date,
    released: Collection[DailyKey] = (),
) -> dict[DailyKey, int]:
    """Lock the members' totals of `day` and the totals in `released`, where they exist, in
    key order; return them by key. Ids no row can have are not looked up (the database
    could not even bind them)."""
    keys = sorted({(m, day) for m in row_ids(member_ids)} | set(released))
    if not keys:
        return {}
    d = member_daily.c
    query = (
        select(d.member_id, d.business_date, d.spent_minor)
        .where(tuple_(d.member_id, d.business_date).in_(keys))
        .order_by(d.member_id, d.business_date)
        .with_for_update()
    )
    return {(row.member_id, row.business_date): row.spent_minor for row in conn.execute(query)}


def daily_rows(spent: Mapping[int, int], day: date) -> list[dict[str, Any]]:
    """What each member spent in the batch, as rows for `day`, in member order."""
    return [
        {"member_id": m, "business_date": day, "spent_minor": v}
        for m, v in sorted(spent.items())
        if v > 0
    ]


def add_daily(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add `daily_rows` to the members' daily totals, creating rows as needed."""
    if not rows:
        return
    statement = dialect_insert(conn, member_daily).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["member_id", "business_date"],
        set_={"spent_minor": member_daily.c.spent_minor + statement.excluded.spent_minor},
    )
    conn.execute(statement)


def release_rows(releases: Iterable[DailyRelease]) -> list[dict[str, Any]]:
    """The releases summed per total, as rows in key order."""
    totals: defaultdict[DailyKey, int] = defaultdict(int)
    for release in releases:
        totals[(release.member_id, release.business_date)] += release.amount_minor
    return [
        {"member_id": m, "business_date": day, "released_minor": v}
        for (m, day), v in sorted(totals.items())
    ]


def release_daily(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Take `release_rows` off the members' totals, down to zero at most, in key order (so a
    total not locked yet is locked in that order)."""
    if not rows:
        return
    d = member_daily.c
    released: BindParameter[int] = bindparam("b_released_minor")
    statement = (
        update(member_daily)
        .where(d.member_id == bindparam("b_member_id"))
        .where(d.business_date == bindparam("b_business_date"))
        .values(spent_minor=case((d.spent_minor > released, d.spent_minor - released), else_=0))
    )
    conn.execute(statement, [{f"b_{key}": value for key, value in row.items()} for row in rows])
