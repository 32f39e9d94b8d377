"""Audit of settlement windows: every closed window's positions, recomputed from the ledger.

Read-only. For each closed window: positions sum to zero per currency, and equal the
positions recomputed from the ledger postings on the due accounts (a cooperative's own,
the network's one per cooperative) for the window's payments.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from settlement.closing import ledger_positions, load_summary, stored_positions
from settlement.tables import window

__all__ = ["WindowCheck", "verify_windows"]


@dataclass(frozen=True, slots=True)
class WindowCheck:
    """One window's audit result."""

    window_date: date
    status: str
    sums_to_zero: bool
    equals_ledger: bool

    @property
    def ok(self) -> bool:
        """True when both checks pass."""
        return self.sums_to_zero and self.equals_ledger


def verify_windows(conn: Connection) -> list[WindowCheck]:
    """Check every closed window, oldest first."""
    checks = []
    dates = conn.execute(select(window.c.window_date).order_by(window.c.window_date)).scalars()
    for window_date in list(dates):
        summary = load_summary(conn, window_date)
        assert summary is not None
        totals: Counter[str] = Counter()
        for p in summary.positions:
            totals[p.currency] += p.net_minor
        checks.append(
            WindowCheck(
                window_date,
                summary.status.value,
                not any(totals.values()),
                ledger_positions(conn, window_date) == stored_positions(summary),
            )
        )
    return checks
