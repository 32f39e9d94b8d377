"""A process dying between the steps of closing or settling a window, against real
PostgreSQL: each step's transaction rolls back whole, and running the step again finishes
the work once.

A close commits on its own before the recompute; a close that dies after it is finished by
closing again. A confirmation that dies after its ledger entry is written (in the event
record, or while finishing the window) books nothing; confirming again books exactly one
entry per instruction.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

import settlement.closing as closing_module
import settlement.settling as settling_module
from ledger.tables import entry
from settlement.netting import SettlementMode
from settlement.window_rules import SettlementErrorCode as Code
from settlement.window_rules import WindowError, WindowStatus
from tests.integration.settlement.night import (
    close_now,
    code_of,
    events,
    ledger_nets,
    snapshot,
    two_pairs_of_coops,
)

pytestmark = pytest.mark.postgres


class _CrashError(Exception):
    """A process dying at a chosen step."""


def _crash(*_args: Any, **_kwargs: Any) -> Any:
    raise _CrashError


def test_a_crash_after_the_close_before_the_recompute_is_finished_by_closing_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close commits on its own; if the recompute dies, closing again recomputes
    (once), books no second close, and the window may then be settled."""
    with two_pairs_of_coops(pg_url) as (net, window_date, _coops):
        settlement = net.services.settlement
        with monkeypatch.context() as patch:
            patch.setattr(closing_module, "recompute_window", _crash)
            patch.setattr("settlement.service.recompute_window", _crash)
            with pytest.raises(_CrashError):
                settlement.close(window_date, actor="night-job")
        assert settlement.summary(window_date).recompute_ok is None
        with pytest.raises(WindowError) as refused:
            settlement.start(window_date, actor="ops")
        assert code_of(refused.value) == Code.WINDOW_RECOMPUTE_FAILED

        again = settlement.close(window_date, actor="night-job")

        assert (again.newly_closed, again.recompute_ok) == (False, True)
        assert [a for a, _ in events(net.services.engine, window_date)] == ["close", "recompute"]
        nets = {(p.coop_id, p.currency): p.net_minor for p in again.positions if p.net_minor}
        assert nets == ledger_nets(net.services.engine, window_date)


@pytest.mark.parametrize("step", ["window_obligations", "record_event"])
def test_a_close_that_dies_midway_changes_nothing_and_a_rerun_closes_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    with two_pairs_of_coops(pg_url) as (net, window_date, _coops):
        before = snapshot(net.services.engine)
        with monkeypatch.context() as patch:
            patch.setattr(closing_module, step, _crash)
            with pytest.raises(_CrashError):
                close_now(net, window_date)
        assert snapshot(net.services.engine) == before

        summary = close_now(net, window_date)

        assert (summary.newly_closed, summary.recompute_ok) == (True, True)
        assert [a for a, _ in events(net.services.engine, window_date)] == ["close", "recompute"]


@pytest.mark.parametrize("mode", list(SettlementMode))
def test_a_confirmation_that_dies_after_booking_changes_nothing_and_a_rerun_books_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, mode: SettlementMode
) -> None:
    """Dying after the ledger entry is written (in the event record, or while finishing the
    window) rolls the whole confirmation back; confirming again books exactly one entry per
    instruction and settles the window."""
    with two_pairs_of_coops(pg_url) as (net, window_date, _coops):
        settlement = net.services.settlement
        close_now(net, window_date)
        rows = [r for r in settlement.start(window_date, actor="ops", mode=mode) if not r.internal]
        before = snapshot(net.services.engine)
        last = rows[-1]
        for target in ("record_event", "_finish_if_complete"):
            with monkeypatch.context() as patch:
                patch.setattr(settling_module, target, _crash)
                with pytest.raises(_CrashError):
                    settlement.confirm(
                        rows[0].reference, bank_reference="BANK1", amount=rows[0].amount, actor="x"
                    )
            assert snapshot(net.services.engine) == before, target

        for r in rows:
            settlement.confirm(r.reference, bank_reference="BANK1", amount=r.amount, actor="ops")
        replay = settlement.confirm(
            last.reference, bank_reference="BANK1", amount=last.amount, actor="ops"
        )

        assert replay.status == "confirmed"
        assert settlement.summary(window_date).status is WindowStatus.SETTLED
        with net.services.engine.connect() as conn:
            settle_entries = conn.execute(
                select(func.count()).select_from(entry).where(entry.c.entry_id.like("settle:%"))
            ).scalar_one()
        assert settle_entries == len(settlement.instructions(window_date))
