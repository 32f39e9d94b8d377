"""What a payment transaction reads and writes besides its payment rows, and its lock order.

The window it joins (and a close waits for), the parties and fee schedules it loads, and
the obligations it adds; the payment rows themselves are `interchange.payment_records`.

Lock order for every payment transaction (so that concurrent batches cannot deadlock):
the window (a shared advisory lock on PostgreSQL), the original payments a refund, capture
or void names (`FOR UPDATE`, by id), members' daily totals (by member id, then date: those
of the batch's day and those its authorizations may give back to, see
`interchange.daily_totals`), the cooperatives' status locks (shared advisory locks on
PostgreSQL, by id, `interchange.coop_status_lock`), then the ledger's accounts (by id, inside
`ledger.posting.plan_entries`, called by `interchange.batch_posting`), then obligations (by
key). The expiry sweep takes the same order without the window and the ledger: the
authorizations, then the daily totals. Functions never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select

from interchange.fee_schedule import FeeSchedule
from interchange.fee_schedule_codec import schedule_from_json
from interchange.movement import CoopAccounts, ObligationDelta
from interchange.payment_model import PaymentError, PaymentErrorCode
from interchange.routing import CoopParty, MemberParty, MerchantParty
from interchange.tables import (
    coop,
    fee_schedule,
    member,
    member_wallet,
    merchant,
    obligation,
    window_close,
)
from interchange.window import WindowCalendar
from ledger.db import dialect_insert
from ledger.store import row_ids

__all__ = [
    "WINDOW_LOCK_CLASS",
    "add_obligations",
    "coop_party",
    "database_now",
    "enter_window",
    "load_coops",
    "load_members",
    "load_merchant_criteria",
    "load_merchants",
    "load_schedule_version",
    "load_schedules",
    "lock_window_exclusively",
    "mark_window_closed",
    "obligation_rows",
    "require_later_window",
    "window_key",
    "window_obligations",
]

WINDOW_LOCK_CLASS = 0x6B6E  # "kn": the namespace of window advisory locks


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def database_now(conn: Connection) -> datetime:
    """The database's clock (PostgreSQL's, or this process's for embedded SQLite)."""
    if _is_postgres(conn):
        moment = conn.execute(select(func.clock_timestamp())).scalar_one()
        return moment.astimezone(UTC)  # type: ignore[no-any-return]
    return datetime.now(UTC)


def window_key(window_date: date) -> int:
    """The advisory lock key of a window: its date as YYYYMMDD."""
    return window_date.year * 10_000 + window_date.month * 100 + window_date.day


def enter_window(conn: Connection, calendar: WindowCalendar) -> tuple[datetime, date]:
    """Read the clock and join its window; return (now, window date).

    On PostgreSQL the transaction holds the window's shared advisory lock until it ends, so
    a close (which takes it exclusively) waits for payments already in the window. If the
    window was closed meanwhile, the clock is read again: a close runs after the cut-off,
    so the new moment belongs to a later window (`require_later_window`).
    """
    while True:
        now = database_now(conn)
        window_date = calendar.window_date(now)
        if _is_postgres(conn):
            conn.execute(
                select(
                    func.pg_advisory_xact_lock_shared(WINDOW_LOCK_CLASS, window_key(window_date))
                )
            )
        closed = conn.execute(
            select(window_close.c.window_date).where(window_close.c.window_date == window_date)
        ).first()
        if closed is None:
            return now, window_date
        require_later_window(conn, calendar, window_date)


def require_later_window(conn: Connection, calendar: WindowCalendar, window_date: date) -> None:
    """Having found `window_date` closed, return if the clock has passed into a later
    window (the close ran after the cut-off, while this transaction waited for it: join
    that one); otherwise `window_closed`. A close runs once the closer's calendar says the
    window is due; one that ran before this process's cut-off means the two processes'
    cut-off or time zone differ, and retrying would spin until this process's cut-off."""
    if calendar.window_date(database_now(conn)) > window_date:
        return
    message = (
        f"window {window_date} is closed, though this process's calendar says it is still"
        " open: every process must share KOPNET_WINDOW_CUTOFF_S and KOPNET_TIME_ZONE"
    )
    raise PaymentError(PaymentErrorCode.WINDOW_CLOSED, message)


def lock_window_exclusively(conn: Connection, window_date: date) -> None:
    """Wait for every payment transaction in the window to finish (PostgreSQL only)."""
    if _is_postgres(conn):
        conn.execute(select(func.pg_advisory_xact_lock(WINDOW_LOCK_CLASS, window_key(window_date))))


def coop_party(row: Any) -> CoopParty:
    """What routing needs of a coop row: its accounts, whether it is active, its currency
    and its net debit cap."""
    accounts = CoopAccounts(
        row.id,
        row.cash_account_id,
        row.fee_account_id,
        row.due_account_id,
        row.network_fee_account_id,
        row.network_due_account_id,
    )
    cap = None if row.is_network else row.net_debit_cap_minor
    return CoopParty(accounts, row.status == "active", row.currency, cap)


def load_coops(
    conn: Connection, coop_ids: Collection[int] | None = None
) -> tuple[dict[int, CoopParty], CoopParty]:
    """The participants `coop_ids` (every one when None) and the network operator, which is
    among them too."""
    query = select(coop)
    if coop_ids is not None:
        query = query.where(or_(coop.c.is_network, coop.c.id.in_(row_ids(coop_ids))))
    parties: dict[int, CoopParty] = {}
    network: CoopParty | None = None
    for row in conn.execute(query):
        party = coop_party(row)
        parties[row.id] = party
        if row.is_network:
            network = party
    assert network is not None, "the network operator must be registered first"
    return parties, network


def load_members(conn: Connection, member_ids: Collection[int]) -> dict[int, MemberParty]:
    """The named members with their main wallet."""
    wanted = row_ids(member_ids)
    if not wanted:
        return {}
    query = (
        select(
            member.c.id,
            member.c.coop_id,
            member.c.status,
            member.c.kyc_tier,
            member_wallet.c.account_id,
        )
        .join(
            member_wallet,
            and_(member_wallet.c.member_id == member.c.id, member_wallet.c.label == "main"),
        )
        .where(member.c.id.in_(wanted))
    )
    return {
        row.id: MemberParty(
            row.id, row.coop_id, row.status == "active", row.kyc_tier, row.account_id
        )
        for row in conn.execute(query)
    }


def load_merchants(conn: Connection, network_ids: Collection[str]) -> dict[str, MerchantParty]:
    """The named merchants, keyed by their network merchant id."""
    if not network_ids:
        return {}
    query = select(merchant).where(merchant.c.network_merchant_id.in_(sorted(network_ids)))
    return {
        row.network_merchant_id: MerchantParty(
            row.id,
            row.coop_id,
            row.status == "active",
            row.network_merchant_id,
            row.criteria,
            row.wallet_account_id,
        )
        for row in conn.execute(query)
    }


def load_schedule_version(conn: Connection) -> int:
    """The newest published fee schedule version (0 when none is)."""
    return int(conn.execute(select(func.max(fee_schedule.c.version))).scalar() or 0)


def load_schedules(conn: Connection) -> list[FeeSchedule]:
    """Every published fee schedule version."""
    rows = conn.execute(select(fee_schedule.c.rules_json).order_by(fee_schedule.c.version))
    return [schedule_from_json(text) for (text,) in rows]


def obligation_rows(deltas: Iterable[ObligationDelta], window_date: date) -> list[dict[str, Any]]:
    """The deltas summed per ordered pair and currency, as rows, in key order."""
    totals: defaultdict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for delta in deltas:
        total = totals[(delta.debtor_coop_id, delta.creditor_coop_id, delta.currency)]
        total[0] += delta.amount_minor
        total[1] += 1
    return [
        {
            "window_date": window_date,
            "debtor_coop_id": d,
            "creditor_coop_id": c,
            "currency": cur,
            "amount_minor": amount,
            "payment_count": count,
        }
        for (d, c, cur), (amount, count) in sorted(totals.items())
    ]


def add_obligations(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add `obligation_rows` to the window's running obligations."""
    if not rows:
        return
    statement = dialect_insert(conn, obligation).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["window_date", "debtor_coop_id", "creditor_coop_id", "currency"],
        set_={
            "amount_minor": obligation.c.amount_minor + statement.excluded.amount_minor,
            "payment_count": obligation.c.payment_count + statement.excluded.payment_count,
        },
    )
    conn.execute(statement)


def mark_window_closed(conn: Connection, window_date: date, closed_at: datetime) -> bool:
    """Record that the window takes no more payments; False if it was already closed."""
    exists = conn.execute(
        select(window_close.c.window_date).where(window_close.c.window_date == window_date)
    ).first()
    if exists is not None:
        return False
    conn.execute(insert(window_close).values(window_date=window_date, closed_at=closed_at))
    return True


def window_obligations(conn: Connection, window_date: date) -> list[ObligationDelta]:
    """The window's running obligations, one per ordered pair and currency."""
    query = (
        select(obligation)
        .where(obligation.c.window_date == window_date)
        .order_by(obligation.c.debtor_coop_id, obligation.c.creditor_coop_id, obligation.c.currency)
    )
    return [
        ObligationDelta(row.debtor_coop_id, row.creditor_coop_id, row.currency, row.amount_minor)
        for row in conn.execute(query)
        if row.amount_minor > 0
    ]


def load_merchant_criteria(conn: Connection, merchant_ids: Collection[int]) -> dict[int, str]:
    """The QRIS criteria of the named merchants, by merchant id."""
    if not merchant_ids:
        return {}
    query = select(merchant.c.id, merchant.c.criteria).where(
        merchant.c.id.in_(sorted(merchant_ids))
    )
    return {row.id: row.criteria for row in conn.execute(query)}
