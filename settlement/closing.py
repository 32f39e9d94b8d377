"""Closing a window: freeze it, net its running obligations, and check them against the ledger.

`close_window` is idempotent and safe to run twice or concurrently: on PostgreSQL it first
waits (exclusive advisory lock) for payments already inside the window, marks the window
closed so later payments land in the next one, then nets the window's running obligations
into positions. Its cost grows with the number of cooperative pairs, not payments.
`recompute_window` recomputes every position from the ledger postings on the
cooperatives' due accounts for the window's payments, and records whether they agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, not_, select, union_all, update

from interchange.movement import ObligationDelta
from interchange.payment_store import (
    database_now,
    lock_window_exclusively,
    mark_window_closed,
    window_obligations,
)
from interchange.tables import coop, payment
from interchange.window import WindowCalendar
from ledger.tables import entry, posting
from settlement.tables import event, position, window
from settlement.window_rules import (
    SettlementErrorCode,
    WindowError,
    WindowStatus,
    require_actor,
    require_due,
    require_window_date,
)

__all__ = [
    "PositionRow",
    "WindowSummary",
    "close_window",
    "gross_positions",
    "ledger_positions",
    "load_summary",
    "recompute_window",
    "record_event",
    "stored_positions",
]


@dataclass(frozen=True, slots=True)
class PositionRow:
    """A cooperative's net position in one currency, with the gross amounts behind it."""

    coop_id: int
    currency: str
    net_minor: int
    payable_minor: int
    receivable_minor: int


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """A closed window: its state and positions."""

    window_date: date
    status: WindowStatus
    closed_at: datetime
    closed_by: str
    obligation_count: int
    recompute_ok: bool | None
    positions: tuple[PositionRow, ...]
    newly_closed: bool


def gross_positions(obligations: Sequence[ObligationDelta]) -> tuple[PositionRow, ...]:
    """Net and gross position per cooperative and currency; nets sum to zero per currency."""
    payable: defaultdict[tuple[int, str], int] = defaultdict(int)
    receivable: defaultdict[tuple[int, str], int] = defaultdict(int)
    for item in obligations:
        payable[(item.debtor_coop_id, item.currency)] += item.amount_minor
        receivable[(item.creditor_coop_id, item.currency)] += item.amount_minor
    keys = sorted(set(payable) | set(receivable))
    rows = tuple(
        PositionRow(
            coop_id,
            currency,
            receivable[(coop_id, currency)] - payable[(coop_id, currency)],
            payable[(coop_id, currency)],
            receivable[(coop_id, currency)],
        )
        for coop_id, currency in keys
    )
    for currency in {row.currency for row in rows}:
        assert sum(r.net_minor for r in rows if r.currency == currency) == 0, "nets sum to zero"
    return rows


def close_window(
    conn: Connection, window_date: date, *, actor: str, calendar: WindowCalendar
) -> WindowSummary:
    """Close the window (or report the close already made); never blocks other windows."""
    require_actor(actor)
    require_window_date(window_date)
    # A window closed already is reported whatever this process's calendar says (one run
    # with another cut-off or time zone must not call the close not due).
    existing = load_summary(conn, window_date)
    if existing is not None:
        return existing
    now = database_now(conn)
    require_due(now, calendar.cutoff_at(window_date))
    lock_window_exclusively(conn, window_date)
    existing = load_summary(conn, window_date)
    if existing is not None:
        return existing
    mark_window_closed(conn, window_date, now)
    obligations = window_obligations(conn, window_date)
    rows = gross_positions(obligations)
    conn.execute(
        insert(window).values(
            window_date=window_date,
            status=WindowStatus.CLOSED.value,
            mode=None,
            closed_at=now,
            closed_by=actor,
            obligation_count=len(obligations),
            recompute_ok=None,
        )
    )
    if rows:
        conn.execute(
            insert(position),
            [
                {
                    "window_date": window_date,
                    "coop_id": r.coop_id,
                    "currency": r.currency,
                    "net_minor": r.net_minor,
                    "payable_minor": r.payable_minor,
                    "receivable_minor": r.receivable_minor,
                }
                for r in rows
            ],
        )
    record_event(
        conn,
        window_date,
        "close",
        actor,
        now,
        f"{len(obligations)} obligations, {len(rows)} positions",
    )
    summary = load_summary(conn, window_date)
    assert summary is not None
    return replace(summary, newly_closed=True)


def record_event(
    conn: Connection, window_date: date, action: str, actor: str, at: datetime, detail: str
) -> None:
    """Append a step to the window's history."""
    conn.execute(
        insert(event).values(
            window_date=window_date, action=action, actor=actor, at=at, detail=detail[:2000]
        )
    )


def load_summary(conn: Connection, window_date: date) -> WindowSummary | None:
    """The window's stored state and positions, or None while it is open."""
    row = conn.execute(select(window).where(window.c.window_date == window_date)).first()
    if row is None:
        return None
    rows = conn.execute(
        select(position)
        .where(position.c.window_date == window_date)
        .order_by(position.c.currency, position.c.coop_id)
    )
    positions = tuple(
        PositionRow(r.coop_id, r.currency, r.net_minor, r.payable_minor, r.receivable_minor)
        for r in rows
    )
    return WindowSummary(
        row.window_date,
        WindowStatus(row.status),
        row.closed_at,
        row.closed_by,
        row.obligation_count,
        row.recompute_ok,
        positions,
        False,
    )


def ledger_positions(conn: Connection, window_date: date) -> dict[tuple[int, str], int]:
    """Each cooperative's net position recomputed from the ledger postings on its due
    accounts for the window's payments (a due account rises by what its owner owes).

    A cooperative has one due account; the network has one per cooperative (for the
    network itself, its own)."""
    network_id = select(coop.c.id).where(coop.c.is_network).scalar_subquery()
    owned = select(coop.c.due_account_id.label("account_id"), coop.c.id.label("owner_id"))
    dues = union_all(
        owned.where(not_(coop.c.is_network)),
        select(coop.c.network_due_account_id, network_id),
    ).subquery()
    query = (
        select(dues.c.owner_id, posting.c.currency, func.sum(posting.c.amount_minor))
        .select_from(payment)
        .join(entry, entry.c.entry_id == payment.c.entry_id)
        .join(posting, posting.c.entry_seq == entry.c.seq)
        .join(dues, dues.c.account_id == posting.c.account_id)
        .where(payment.c.window_date == window_date)
        .group_by(dues.c.owner_id, posting.c.currency)
    )
    return {(row[0], row[1]): -int(row[2]) for row in conn.execute(query) if row[2]}


def stored_positions(summary: WindowSummary) -> dict[tuple[int, str], int]:
    """The close's nonzero positions, keyed like `ledger_positions`."""
    return {(p.coop_id, p.currency): p.net_minor for p in summary.positions if p.net_minor}


def recompute_window(conn: Connection, window_date: date, *, actor: str) -> bool:
    """Recompute positions from the ledger; store and return whether they equal the close's.
    Checks the actor, then the window date, before reading anything; an open window is
    `window_not_closed`."""
    require_actor(actor)
    require_window_date(window_date)
    summary = load_summary(conn, window_date)
    if summary is None:
        raise WindowError(SettlementErrorCode.WINDOW_NOT_CLOSED, "the window is open")
    recomputed = ledger_positions(conn, window_date)
    ok = recomputed == stored_positions(summary)
    now = database_now(conn)
    conn.execute(
        update(window)
        .where(window.c.window_date == window_date)
        .values(recompute_ok=ok, recomputed_at=now)
    )
    record_event(
        conn,
        window_date,
        "recompute",
        actor,
        now,
        "positions equal the ledger" if ok else f"ledger gives {sorted(recomputed.items())}",
    )
    return ok
