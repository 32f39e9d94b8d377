"""Aborting a settlement round and settling bilaterally instead, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ledger.money import Money
from settlement import tables as st
from settlement.bank_statement import BankStatement, Direction, StatementEntry
from settlement.netting import SettlementMode, apply_instructions
from settlement.reconciliation import UnmatchedReason
from settlement.window_rules import SettlementErrorCode as Code
from settlement.window_rules import WindowError, WindowStatus
from tests.integration.settlement.night import (
    business_day,
    code_of,
    due_balances,
    events,
    network_settlement_balance,
    planned,
    positions_of,
    snapshot,
    wait_for_cutoff,
)
from tests.network import idr


def test_an_abort_before_any_confirmation_reopens_the_window_for_a_bilateral_round(
    db_url: str,
) -> None:
    with business_day(db_url) as day:
        wait_for_cutoff(day.net, day.window_date)
        settlement = day.net.services.settlement
        summary = settlement.close(day.window_date, actor="night-job")
        first_round = settlement.start(day.window_date, actor="ops-manager")

        settlement.abort(day.window_date, actor="ops-manager")

        assert settlement.summary(day.window_date).status is WindowStatus.CLOSED
        with day.engine.connect() as conn:
            statuses = conn.execute(
                select(st.instruction.c.status).where(
                    st.instruction.c.window_date == day.window_date, st.instruction.c.round == 1
                )
            ).scalars()
            assert set(statuses) == {"cancelled"}
        before = snapshot(day.engine)
        with pytest.raises(WindowError) as again:
            settlement.abort(day.window_date, actor="ops-manager")
        assert code_of(again.value) == Code.WINDOW_NOT_SETTLING
        assert snapshot(day.engine) == before

        dues_before = due_balances(day)
        rows = settlement.start(day.window_date, actor="ops-manager", mode=SettlementMode.BILATERAL)

        assert all("R2N" in r.reference for r in rows)
        assert not {r.reference for r in rows} & {r.reference for r in first_round}
        assert all(r.payer_coop_id and r.payee_coop_id and not r.internal for r in rows)
        remaining = apply_instructions(positions_of(summary), planned(rows))
        assert all(m.is_zero() for by_coop in remaining.values() for m in by_coop.values())
        stale = first_round[0]
        before = snapshot(day.engine)
        with pytest.raises(WindowError) as cancelled:
            settlement.confirm(
                stale.reference, bank_reference="BANK-0000", amount=stale.amount, actor="treasurer"
            )
        assert code_of(cancelled.value) == Code.INSTRUCTION_NOT_PENDING
        assert snapshot(day.engine) == before

        head, *rest = rows
        settlement.confirm(
            head.reference, bank_reference="BANK-0001", amount=head.amount, actor="treasurer"
        )
        before = snapshot(day.engine)
        with pytest.raises(WindowError) as booked:
            settlement.abort(day.window_date, actor="ops-manager")
        assert code_of(booked.value) == Code.WINDOW_HAS_CONFIRMATIONS
        assert snapshot(day.engine) == before

        for n, row in enumerate(rest, start=2):
            settlement.confirm(
                row.reference, bank_reference=f"BANK-{n:04d}", amount=row.amount, actor="treasurer"
            )
        assert settlement.summary(day.window_date).status is WindowStatus.SETTLED
        dues_after = due_balances(day)
        nets = {p.coop_id: p.net_minor for p in summary.positions}
        assert {c: dues_after[c] - dues_before[c] for c in dues_before} == nets
        assert network_settlement_balance(day.engine) == (0, 0)
        assert events(day.engine, day.window_date) == [
            ("close", "night-job"),
            ("recompute", "night-job"),
            ("start", "ops-manager"),
            ("abort", "ops-manager"),
            ("start", "ops-manager"),
            *[("confirm", "treasurer")] * len(rows),
            ("settle", "treasurer"),
        ]


@pytest.mark.parametrize("restarted", [False, True], ids=["aborted", "restarted"])
def test_a_statement_paying_cancelled_instructions_does_not_reconcile(
    db_url: str, restarted: bool
) -> None:
    """After an abort the first round's instructions are cancelled: money the bank moved
    under their references is no longer expected, so each such line is left over as
    `cancelled_reference` and the statement is not clean (it was, matching them); so too
    once a second round has started."""
    with business_day(db_url) as day:
        wait_for_cutoff(day.net, day.window_date)
        settlement = day.net.services.settlement
        settlement.close(day.window_date, actor="night-job")
        first_round = [r for r in settlement.start(day.window_date, actor="ops") if not r.internal]
        settlement.abort(day.window_date, actor="ops")
        if restarted:
            settlement.start(day.window_date, actor="ops")
        entries = tuple(
            StatementEntry(
                day.window_date,
                r.amount,
                Direction.CREDIT if r.payee_coop_id is None else Direction.DEBIT,
                r.reference,
                f"BANK{n}",
            )
            for n, r in enumerate(first_round)
        )
        moved = sum(e.signed_minor for e in entries)
        statement = BankStatement("0021000001", "IDR", idr(0), Money(moved, "IDR"), entries)
        report = settlement.reconcile(day.window_date, statement)
        assert not report.is_clean and not report.matched
        reasons = [line.reason for line in report.unmatched_statement]
        assert reasons == [UnmatchedReason.CANCELLED_REFERENCE] * len(first_round)
