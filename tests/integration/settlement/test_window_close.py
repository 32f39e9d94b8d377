"""Closing a window on both engines: not before the cut-off, once, and in agreement with the
obligations and the ledger; payments after the close go to the next window. A window dated
where no payment can fall (0001-01-01, 9999-12-31) is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from interchange.payment_model import QrPurchase, Transfer
from settlement.bank_statement import BankStatement, StatementError, StatementErrorCode
from settlement.service import Settlement
from settlement.window_rules import SettlementErrorCode as Code
from settlement.window_rules import WindowError, WindowStatus
from tests.integration.settlement.night import (
    business_day,
    close_now,
    code_of,
    events,
    last_due_window,
    ledger_nets,
    next_day,
    obligation_nets,
    open_network_settlement,
    snapshot,
    wait_for_cutoff,
)
from tests.network import idr, network_on, qr_for

BAD_ACTORS = ("", "night job", "-leading-dash", "x" * 65, "n\u00e4me", "ops;drop")
BAD_BANK_REFERENCES = ("", " BANK1", "BANK_1", "B" * 65, "BANK\u00e91")
UNKNOWN_REFERENCE = "KN00000000R1N00001"


def _refusals(steps: dict[str, Callable[[], object]]) -> dict[str, str]:
    """Run each step, expecting a `WindowError`; return the code each was refused with."""
    codes = {}
    for name, step in steps.items():
        with pytest.raises(WindowError) as refused:
            step()
        codes[name] = code_of(refused.value)
    return codes


def _steps_taken_by(
    settlement: Settlement, window_date: date, actor: str
) -> dict[str, Callable[[], object]]:
    """Every settlement step, each taken by `actor`."""
    return {
        "close": lambda: settlement.close(window_date, actor=actor),
        "recompute": lambda: settlement.recompute(window_date, actor=actor),
        "start": lambda: settlement.start(window_date, actor=actor),
        "abort": lambda: settlement.abort(window_date, actor=actor),
        "confirm": lambda: settlement.confirm(
            UNKNOWN_REFERENCE, bank_reference="BANK1", amount=idr(1), actor=actor
        ),
    }


def _confirmation(settlement: Settlement, bank_reference: str) -> Callable[[], object]:
    """A confirmation of an unknown instruction with `bank_reference`."""
    return lambda: settlement.confirm(
        UNKNOWN_REFERENCE, bank_reference=bank_reference, amount=idr(1), actor="ops"
    )


def test_an_open_window_cannot_be_closed_started_summarised_recomputed_or_aborted(
    db_url: str,
) -> None:
    with network_on(db_url) as net:
        coop = net.add_coop("KSA")
        member = net.add_member("ani", coop, cash_in=100_000)
        shop = net.add_merchant("Kios A", coop)
        open_network_settlement(net)
        settlement = net.services.settlement
        window_date = settlement.calendar.window_date(datetime.now(UTC))
        before = snapshot(net.services.engine)

        codes = _refusals(
            {
                "close": lambda: settlement.close(window_date, actor="night-job"),
                "start": lambda: settlement.start(window_date, actor="ops"),
                "summary": lambda: settlement.summary(window_date),
                "recompute": lambda: settlement.recompute(window_date, actor="ops"),
                "abort": lambda: settlement.abort(window_date, actor="ops"),
            }
        )

        assert codes == {
            "close": Code.WINDOW_NOT_DUE,
            "start": Code.WINDOW_NOT_CLOSED,
            "summary": Code.WINDOW_NOT_CLOSED,
            "recompute": Code.WINDOW_NOT_CLOSED,
            "abort": Code.WINDOW_NOT_SETTLING,
        }
        assert snapshot(net.services.engine) == before
        later = net.services.payments.pay(QrPurchase("qr-1", member.id, qr_for(shop), idr(5_000)))
        assert later.business_date == window_date


def test_malformed_actors_and_bank_references_are_refused_first_and_change_nothing(
    db_url: str,
) -> None:
    # A cut-off one second after midnight: yesterday's window is already due, and empty.
    with network_on(db_url, cutoff_s=1) as net:
        settlement = net.services.settlement
        window_date = last_due_window(net)
        settlement.close(window_date, actor="night-job")
        open_network_settlement(net)
        before = snapshot(net.services.engine)

        for actor in BAD_ACTORS:
            codes = _refusals(_steps_taken_by(settlement, window_date, actor))
            assert set(codes.values()) == {Code.ACTOR_INVALID}, actor
        for reference in BAD_BANK_REFERENCES:
            codes = _refusals({"confirm": _confirmation(settlement, reference)})
            assert codes == {"confirm": Code.BANK_REFERENCE_INVALID}, reference
        assert snapshot(net.services.engine) == before


def test_an_actor_with_a_trailing_newline_is_refused(sqlite_url: str) -> None:
    with network_on(sqlite_url, cutoff_s=1) as net:
        window_date = last_due_window(net)
        before = snapshot(net.services.engine)

        with pytest.raises(WindowError) as refused:
            net.services.settlement.close(window_date, actor="night-job\n")

        assert code_of(refused.value) == Code.ACTOR_INVALID
        assert snapshot(net.services.engine) == before


def test_a_bank_reference_with_a_trailing_newline_is_refused(sqlite_url: str) -> None:
    with network_on(sqlite_url) as net:
        open_network_settlement(net)

        with pytest.raises(WindowError) as refused:
            net.services.settlement.confirm(
                UNKNOWN_REFERENCE, bank_reference="BANK1\n", amount=idr(1), actor="ops"
            )

        assert code_of(refused.value) == Code.BANK_REFERENCE_INVALID


def test_a_refused_start_opens_no_ledger_account(sqlite_url: str) -> None:
    with network_on(sqlite_url) as net:
        settlement = net.services.settlement
        window_date = settlement.calendar.window_date(datetime.now(UTC))
        before = snapshot(net.services.engine)

        with pytest.raises(WindowError) as refused:
            settlement.start(window_date, actor="ops")

        assert code_of(refused.value) == Code.WINDOW_NOT_CLOSED
        assert snapshot(net.services.engine) == before


def test_closing_nets_the_window_once_and_later_payments_go_to_the_next_window(
    db_url: str,
) -> None:
    with business_day(db_url) as day:
        wait_for_cutoff(day.net, day.window_date)
        settlement = day.net.services.settlement

        summary = settlement.close(day.window_date, actor="night-job")

        assert summary.status is WindowStatus.CLOSED
        assert summary.closed_by == "night-job"
        assert summary.recompute_ok is True
        assert {p.currency for p in summary.positions} == {"IDR"}
        assert sum(p.net_minor for p in summary.positions) == 0
        assert all(p.net_minor == p.receivable_minor - p.payable_minor for p in summary.positions)
        gross = {
            (p.coop_id, p.currency): (p.payable_minor, p.receivable_minor)
            for p in summary.positions
        }
        assert gross == obligation_nets(day.engine, day.window_date)
        nonzero = {(p.coop_id, p.currency): p.net_minor for p in summary.positions if p.net_minor}
        assert nonzero == ledger_nets(day.engine, day.window_date)
        # The operator earns fees, so it is owed; every cooperative took part.
        assert nonzero[(day.net.network.id, "IDR")] > 0
        everyone = {day.net.network.id, *(c.id for c in day.coops.values())}
        assert {coop_id for coop_id, _ in nonzero} == everyone
        assert events(day.engine, day.window_date) == [
            ("close", "night-job"),
            ("recompute", "night-job"),
        ]

        before = snapshot(day.engine)
        again = settlement.close(day.window_date, actor="someone-else")
        assert again.newly_closed is False
        assert again == replace(summary, newly_closed=False)
        assert snapshot(day.engine) == before

        ani, citra = day.members["ani"], day.members["citra"]
        late = [
            day.net.services.payments.pay(
                QrPurchase("late-qr", ani.id, qr_for(day.merchants["C"]), idr(7_000))
            ),
            day.net.services.payments.pay(Transfer("late-tr", citra.id, ani.id, idr(3_000))),
        ]
        tomorrow = next_day(day.window_date)
        assert [(p.business_date, p.window_date) for p in late] == [(tomorrow, tomorrow)] * 2
        assert set(obligation_nets(day.engine, tomorrow)) == {
            (ani.coop_id, "IDR"),
            (citra.coop_id, "IDR"),
            (day.net.network.id, "IDR"),
        }
        assert settlement.summary(day.window_date) == replace(summary, newly_closed=False)
        assert gross == obligation_nets(day.engine, day.window_date)
        assert settlement.recompute(day.window_date, actor="auditor") is True
        with pytest.raises(WindowError) as refused:
            settlement.close(tomorrow, actor="night-job")
        assert code_of(refused.value) == Code.WINDOW_NOT_DUE


def test_the_first_close_reports_that_it_closed_the_window(sqlite_url: str) -> None:
    with network_on(sqlite_url, cutoff_s=1) as net:
        summary = net.services.settlement.close(last_due_window(net), actor="night-job")

        assert summary.newly_closed is True


def test_closing_a_window_in_the_far_future_is_refused_with_a_code(sqlite_url: str) -> None:
    """Closing a window dated 9999-12-31 is `window_date_invalid` (windows carry the
    ledger's business dates) and changes nothing: the date is refused before its cut-off,
    beyond the datetime range, is computed (which would raise OverflowError)."""
    with network_on(sqlite_url) as net:
        before = snapshot(net.services.engine)
        with pytest.raises(WindowError) as refused:
            close_now(net, date.max)
        assert code_of(refused.value) == Code.WINDOW_DATE_INVALID
        assert snapshot(net.services.engine) == before


def test_closing_a_window_in_the_far_past_is_refused_with_a_code(sqlite_url: str) -> None:
    """The window of 0001-01-01, centuries before any payment the ledger accepts, is
    `window_date_invalid` and changes nothing; it is not closed, recomputed and settled
    like any other."""
    with network_on(sqlite_url, cutoff_s=1) as net:
        before = snapshot(net.services.engine)
        with pytest.raises(WindowError) as refused:
            close_now(net, date.min)
        assert code_of(refused.value) == Code.WINDOW_DATE_INVALID
        assert snapshot(net.services.engine) == before


@pytest.mark.parametrize(
    "window_date",
    [datetime(2026, 12, 1, tzinfo=UTC), "2026-12-01", None, date.min, date.max],
    ids=["datetime", "text", "none", "far-past", "far-future"],
)
def test_every_step_refuses_a_window_date_no_payment_can_have_before_reading_the_window(
    sqlite_url: str, window_date: object
) -> None:
    with network_on(sqlite_url) as net:
        settlement = net.services.settlement
        day: date = window_date  # type: ignore[assignment]
        before = snapshot(net.services.engine)
        steps = _steps_taken_by(settlement, day, "ops")
        del steps["confirm"]  # names an instruction, not a window
        steps["summary"] = lambda: settlement.summary(day)
        steps["instructions"] = lambda: settlement.instructions(day)
        steps["report"] = lambda: settlement.report(day)
        statement = BankStatement("0021000001", "IDR", idr(0), idr(0), ())
        steps["reconcile"] = lambda: settlement.reconcile(day, statement)
        codes = _refusals(steps)
        assert set(codes.values()) == {Code.WINDOW_DATE_INVALID}, codes
        assert snapshot(net.services.engine) == before


@pytest.mark.parametrize("statement", [None, "Amount,Reference\n100.00,KN1", b"<Document/>"])
def test_reconciling_with_anything_but_a_parsed_statement_is_statement_malformed(
    sqlite_url: str, statement: object
) -> None:
    with network_on(sqlite_url) as net:
        before = snapshot(net.services.engine)
        with pytest.raises(StatementError) as refused:
            net.services.settlement.reconcile(
                date(2026, 11, 23),
                statement,  # type: ignore[arg-type]
            )
        assert refused.value.code is StatementErrorCode.STATEMENT_MALFORMED
        assert refused.value.field == "statement"
        assert snapshot(net.services.engine) == before


@pytest.mark.parametrize("reference", [123, None, b"SET-1"])
def test_a_confirmation_naming_no_instruction_text_is_instruction_not_found(
    sqlite_url: str, reference: object
) -> None:
    with network_on(sqlite_url) as net:
        settlement = net.services.settlement
        with pytest.raises(WindowError) as refused:
            settlement.confirm(
                reference,  # type: ignore[arg-type]
                bank_reference="BANK1",
                amount=idr(1),
                actor="ops",
            )
        assert code_of(refused.value) == Code.INSTRUCTION_NOT_FOUND
