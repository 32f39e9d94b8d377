"""Settling a closed window through the network's account, on both engines: one instruction
per cooperative, confirmations that must match, and the ledger and the caps restored; a
cooperative suspended after it paid is still closed and settled (PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from interchange.payment_model import PaymentErrorCode
from ledger.money import Money
from settlement.netting import apply_instructions
from settlement.service import Settlement
from settlement.settling import InstructionRow
from settlement.window_rules import SettlementErrorCode as Code
from settlement.window_rules import WindowError, WindowStatus
from tests.integration.settlement.night import (
    BusinessDay,
    business_day,
    close_now,
    code_of,
    due_balances,
    events,
    last_due_window,
    network_settlement_balance,
    planned,
    positions_of,
    snapshot,
    two_pairs_of_coops,
    wait_for_cutoff,
)
from tests.network import idr, network_on


def _refused_confirmation(
    day: BusinessDay, reference: str, bank_reference: str, amount: Money
) -> str:
    """Confirm and expect a refusal that writes nothing; return its code."""
    before = snapshot(day.engine)
    with pytest.raises(WindowError) as refused:
        day.net.services.settlement.confirm(
            reference, bank_reference=bank_reference, amount=amount, actor="treasurer"
        )
    assert snapshot(day.engine) == before
    return code_of(refused.value)


def _parties(rows: list[InstructionRow]) -> Counter[int]:
    return Counter(
        coop_id for r in rows for coop_id in (r.payer_coop_id, r.payee_coop_id) if coop_id
    )


def _check_one_per_cooperative_and_the_operators_share(
    day: BusinessDay, rows: list[InstructionRow]
) -> None:
    """Via the network: one instruction per cooperative; debtors pay in what creditors and
    the operator (booked internally) are paid out; applied, they zero every position."""
    settlement = day.net.services.settlement
    summary = settlement.summary(day.window_date)
    assert summary.status is WindowStatus.SETTLING
    assert rows == settlement.instructions(day.window_date)
    assert max(_parties(rows).values()) == 1
    assert all(r.status == "pending" and r.bank_reference is None for r in rows)
    assert all((r.payer_coop_id is None) != (r.payee_coop_id is None) for r in rows)
    paid_in = sum(r.amount.amount_minor for r in rows if r.payer_coop_id is not None)
    paid_out = sum(r.amount.amount_minor for r in rows if r.payee_coop_id and not r.internal)
    (share,) = [r for r in rows if r.internal]
    operator = day.net.network.id
    assert (share.payer_coop_id, share.payee_coop_id) == (None, operator)
    assert paid_in == paid_out + share.amount.amount_minor
    nets = {p.coop_id: p.net_minor for p in summary.positions}
    assert share.amount.amount_minor == nets[operator]
    remaining = apply_instructions(positions_of(summary), planned(rows))
    assert all(m.is_zero() for by_coop in remaining.values() for m in by_coop.values())


def _close_and_start(day: BusinessDay) -> tuple[Settlement, list[InstructionRow]]:
    wait_for_cutoff(day.net, day.window_date)
    settlement = day.net.services.settlement
    assert settlement.close(day.window_date, actor="night-job").recompute_ok is True
    return settlement, settlement.start(day.window_date, actor="ops-manager")


def test_confirmations_that_do_not_match_an_instruction_are_refused_and_change_nothing(
    db_url: str,
) -> None:
    with business_day(db_url) as day:
        settlement, rows = _close_and_start(day)
        first = next(r for r in rows if not r.internal)
        share = next(r for r in rows if r.internal)
        wrong = first.amount + Money(1, first.amount.currency)

        codes = {
            "amount": _refused_confirmation(day, first.reference, "BANK-0001", wrong),
            "currency": _refused_confirmation(
                day, first.reference, "BANK-0001", Money(first.amount.amount_minor, "USD")
            ),
            "unknown": _refused_confirmation(day, "KN19990101R1N00001", "BANK-0001", idr(1)),
            "bank reference": _refused_confirmation(day, first.reference, "BANK_0001", wrong),
            "internal": _refused_confirmation(day, share.reference, "BANK-0002", share.amount),
            "minor units, not money": _refused_confirmation(
                day,
                first.reference,
                "BANK-0001",
                first.amount.amount_minor,  # type: ignore[arg-type]
            ),
            "text, not money": _refused_confirmation(
                day,
                first.reference,
                "BANK-0001",
                str(first.amount),  # type: ignore[arg-type]
            ),
        }
        confirmed = settlement.confirm(
            first.reference, bank_reference="BANK-0001", amount=first.amount, actor="treasurer"
        )
        before = snapshot(day.engine)
        replayed = settlement.confirm(
            first.reference, bank_reference="BANK-0001", amount=first.amount, actor="treasurer"
        )
        after_replay = snapshot(day.engine)
        codes["other bank reference"] = _refused_confirmation(
            day, first.reference, "BANK-9999", first.amount
        )
        codes["other currency"] = _refused_confirmation(
            day, first.reference, "BANK-0001", Money(first.amount.amount_minor, "USD")
        )

        assert codes == {
            "amount": Code.INSTRUCTION_AMOUNT_MISMATCH,
            "currency": Code.INSTRUCTION_AMOUNT_MISMATCH,
            "unknown": Code.INSTRUCTION_NOT_FOUND,
            "bank reference": Code.BANK_REFERENCE_INVALID,
            "internal": Code.INSTRUCTION_NOT_PENDING,
            "minor units, not money": Code.INSTRUCTION_AMOUNT_INVALID,
            "text, not money": Code.INSTRUCTION_AMOUNT_INVALID,
            "other bank reference": Code.INSTRUCTION_ALREADY_CONFIRMED,
            "other currency": Code.INSTRUCTION_ALREADY_CONFIRMED,
        }
        assert (confirmed.status, confirmed.bank_reference) == ("confirmed", "BANK-0001")
        assert replayed == confirmed
        assert after_replay == before


def test_via_network_one_instruction_per_cooperative_settles_the_window_and_restores_caps(
    db_url: str,
) -> None:
    with business_day(db_url) as day:
        wait_for_cutoff(day.net, day.window_date)
        settlement = day.net.services.settlement
        summary = settlement.close(day.window_date, actor="night-job")
        payments = day.net.services.payments
        over_cap = payments.submit(day.over_cap_purchase())
        assert over_cap.code == PaymentErrorCode.NET_DEBIT_CAP_EXCEEDED
        dues_before = due_balances(day)
        rows = settlement.start(day.window_date, actor="ops-manager")
        _check_one_per_cooperative_and_the_operators_share(day, rows)
        bank_rows = [r for r in rows if not r.internal]

        for n, row in enumerate(bank_rows, start=1):
            assert settlement.summary(day.window_date).status is WindowStatus.SETTLING
            settlement.confirm(
                row.reference, bank_reference=f"BANK-{n:04d}", amount=row.amount, actor="treasurer"
            )

        assert settlement.summary(day.window_date).status is WindowStatus.SETTLED
        final = settlement.instructions(day.window_date)
        assert [r.status for r in final] == ["confirmed"] * len(rows)
        assert {r.bank_reference for r in final if r.internal} == {"INTERNAL"}
        assert network_settlement_balance(day.engine) == (0, 0)
        dues_after = due_balances(day)
        nets = {p.coop_id: p.net_minor for p in summary.positions}
        assert {c: dues_after[c] - dues_before[c] for c in dues_before} == nets
        assert payments.submit(day.over_cap_purchase()).ok
        assert events(day.engine, day.window_date) == [
            ("close", "night-job"),
            ("recompute", "night-job"),
            ("start", "ops-manager"),
            *[("confirm", "treasurer")] * len(bank_rows),
            ("confirm", "treasurer"),  # the operator's share, booked internally
            ("settle", "treasurer"),
        ]
        refused = snapshot(day.engine)
        with pytest.raises(WindowError) as restart:
            settlement.start(day.window_date, actor="ops-manager")
        with pytest.raises(WindowError) as abort:
            settlement.abort(day.window_date, actor="ops-manager")
        assert code_of(restart.value) == Code.WINDOW_SETTLED
        assert code_of(abort.value) == Code.WINDOW_NOT_SETTLING
        assert snapshot(day.engine) == refused


@pytest.mark.postgres
def test_a_cooperative_suspended_after_paying_is_still_closed_and_settled(pg_url: str) -> None:
    with two_pairs_of_coops(pg_url) as (net, window_date, coops):
        net.services.registry.set_coop_status(coops[0].id, "suspended")
        settlement = net.services.settlement

        summary = close_now(net, window_date)
        rows = settlement.start(window_date, actor="ops")
        for r in rows:
            if not r.internal:
                settlement.confirm(r.reference, bank_reference="B1", amount=r.amount, actor="ops")

        assert summary.recompute_ok is True
        assert any(p.coop_id == coops[0].id and p.net_minor < 0 for p in summary.positions)
        assert settlement.summary(window_date).status is WindowStatus.SETTLED
        assert net.due_balance(coops[0]) == 0


def _empty_window_started(url: str) -> tuple[date, WindowStatus]:
    with network_on(url, cutoff_s=1) as net:
        settlement = net.services.settlement
        window_date = last_due_window(net)
        settlement.close(window_date, actor="night-job")
        assert settlement.start(window_date, actor="ops-manager") == []
        return window_date, settlement.summary(window_date).status


def test_a_window_with_nothing_to_settle_is_settled_when_started(sqlite_url: str) -> None:
    _, status = _empty_window_started(sqlite_url)

    assert status is WindowStatus.SETTLED
