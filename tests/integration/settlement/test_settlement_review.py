"""Review tests for settlement: netting at the limits, closing and settling under races and
crashes, hostile CLI arguments, suspended cooperatives and windows at the edge of time.

The defects this review found are fixed (stop 10) and their tests kept: the round's last
two bilateral confirmations at once, an abort racing a booking, window dates no payment
can have, and CLI arguments that gave a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from sqlalchemy import func, select
from typer.testing import CliRunner

import settlement.closing as closing_module
import settlement.settling as settling_module
from api.cli import app
from interchange.payment_model import CashIn, QrPurchase
from interchange.registry_model import Coop
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.tables import entry
from settlement.netting import (
    COOP_ID_MAX,
    NETWORK,
    NettingError,
    NettingErrorCode,
    Obligation,
    SettlementMode,
    apply_instructions,
    net_positions,
    settlement_instructions,
)
from settlement.window_rules import SettlementErrorCode as Code
from settlement.window_rules import WindowError, WindowStatus
from tests.integration.settlement.night import (
    code_of,
    events,
    last_due_window,
    ledger_nets,
    snapshot,
    wait_for_cutoff,
)
from tests.network import TestNetwork, cutoff_in, idr, network_on, qr_for
from tests.races import blocked_rival

CURRENCIES = ("IDR", "JPY", "KWD", "USD", "EUR", "VND", "BHD")


# --- netting at the limits (pure) ----------------------------------------------------------


@hs.composite
def _obligation(draw: hs.DrawFn) -> Obligation:
    ids = hs.one_of(
        hs.integers(min_value=1, max_value=6),
        hs.integers(min_value=COOP_ID_MAX - 3, max_value=COOP_ID_MAX),
    )
    debtor = draw(ids)
    creditor = draw(ids.filter(lambda c: c != debtor))
    amount_minor = draw(
        hs.one_of(
            hs.integers(min_value=1, max_value=1_000),
            hs.integers(min_value=AMOUNT_MINOR_MAX - 5, max_value=AMOUNT_MINOR_MAX),
        )
    )
    return Obligation(debtor, creditor, Money(amount_minor, draw(hs.sampled_from(CURRENCIES))))


@settings(deadline=None)
@given(obligations=hs.lists(_obligation(), max_size=30), mode=hs.sampled_from(SettlementMode))
def test_netting_near_the_limits_settles_exactly_or_refuses_with_a_code(
    obligations: list[Obligation], mode: SettlementMode
) -> None:
    """Huge amounts, ids near the top, many currencies: either a named refusal, or positions
    that sum to zero and instructions (at most n-1 bilateral, n via the network) that settle
    every position exactly."""
    refused: list[NettingError] = []
    try:
        positions = net_positions(obligations)
    except NettingError as error:
        refused.append(error)
    if refused:
        assert refused[0].code is NettingErrorCode.NETTING_AMOUNT_TOO_LARGE
        return
    instructions = settlement_instructions(positions, mode)
    remaining = apply_instructions(positions, instructions)
    assert all(a.is_zero() for by_coop in remaining.values() for a in by_coop.values())
    for currency, by_coop in positions.items():
        assert sum(a.amount_minor for a in by_coop.values()) == 0
        nonzero = sum(1 for a in by_coop.values() if not a.is_zero())
        count = sum(1 for i in instructions if i.amount.currency == currency)
        bound = nonzero if mode is SettlementMode.VIA_NETWORK else max(0, nonzero - 1)
        assert count <= bound
        if mode is SettlementMode.BILATERAL:
            assert all(NETWORK not in (i.payer, i.payee) for i in instructions)


def test_a_coop_owed_and_owing_the_same_amount_gets_a_zero_position_and_no_instruction() -> None:
    """A zero row (a coop whose obligations cancel) stays listed, at zero, and is paid nothing."""
    obligations = [
        Obligation(1, 2, Money(AMOUNT_MINOR_MAX, "IDR")),
        Obligation(2, 1, Money(AMOUNT_MINOR_MAX, "IDR")),
        Obligation(3, 4, Money(7, "IDR")),
    ]
    positions = net_positions(obligations)
    assert {c: m.amount_minor for c, m in positions["IDR"].items()} == {1: 0, 2: 0, 3: -7, 4: 7}
    for mode in SettlementMode:
        parties = {p for i in settlement_instructions(positions, mode) for p in (i.payer, i.payee)}
        assert parties.isdisjoint({1, 2})


# --- helpers for the database tests --------------------------------------------------------


def _close_now(net: TestNetwork, window_date: date) -> Any:
    return net.services.settlement.close(window_date, actor="night-job")


@contextmanager
def _two_pairs_of_coops(url: str) -> Iterator[tuple[TestNetwork, date, list[Coop]]]:
    """A window where A buys from B for Rp1.000.000 and C from D for Rp500.000; yield it
    once it is due."""
    with network_on(url, cutoff_s=cutoff_in(5)) as net:
        coops = [net.add_coop(code) for code in ("KSA", "KSB", "KSC", "KSD")]
        ani = net.add_member("ani", coops[0])
        citra = net.add_member("citra", coops[2])
        payments = net.services.payments
        funded = [
            payments.pay(CashIn("fund-ani", ani.id, coops[0].id, idr(2_000_000))),
            payments.pay(CashIn("fund-citra", citra.id, coops[2].id, idr(1_000_000))),
        ]
        shop_b = net.add_merchant("Warung B", coops[1])
        shop_d = net.add_merchant("Toko D", coops[3])
        records = [
            *funded,
            payments.pay(QrPurchase("qr-ab", ani.id, qr_for(shop_b), idr(1_000_000))),
            payments.pay(QrPurchase("qr-cd", citra.id, qr_for(shop_d), idr(500_000))),
        ]
        window_date = records[0].business_date
        assert {r.business_date for r in records} == {window_date}, "the day outran its window"
        wait_for_cutoff(net, window_date)
        yield net, window_date, coops


# --- settling: concurrent confirmations ----------------------------------------------------


@pytest.mark.postgres
def test_the_last_two_bilateral_confirmations_at_once_settle_the_window(pg_url: str) -> None:
    """The last two (disjoint) bilateral instructions confirmed at once: the second starts
    while the first checks whether anything is still pending, before it commits. The
    window must end `settled`. Each used to see the other still pending (nothing ordered
    them: a confirmation never locked the window, and the two bookings share no account),
    and the window stayed `settling` forever with nothing pending. A confirmation now
    takes the window's row first, so the second waits and then finds nothing pending."""
    with _two_pairs_of_coops(pg_url) as (net, window_date, coops):
        settlement = net.services.settlement
        assert _close_now(net, window_date).recompute_ok is True
        rows = settlement.start(window_date, actor="ops", mode=SettlementMode.BILATERAL)
        a, b, c, d = (coop.id for coop in coops)
        first, second = [r for r in rows if (r.payer_coop_id, r.payee_coop_id) in ((a, b), (c, d))]
        for r in rows:
            if r not in (first, second):
                settlement.confirm(
                    r.reference, bank_reference=f"B{r.reference}", amount=r.amount, actor="ops"
                )

        def confirm(row: Any) -> Any:
            return settlement.confirm(
                row.reference, bank_reference=f"B{row.reference}", amount=row.amount, actor="ops"
            )

        def checks_pending(statement: str) -> bool:
            return "FROM settlement_instruction" in statement and "status =" in statement

        with blocked_rival(net.services.engine, checks_pending, lambda: confirm(second)) as rival:
            confirmed = [confirm(first)]
        confirmed.append(rival[0].result(timeout=60))
        assert [r.status for r in confirmed] == ["confirmed", "confirmed"]
        assert [r.status for r in settlement.instructions(window_date)] == ["confirmed"] * len(rows)
        assert settlement.summary(window_date).status is WindowStatus.SETTLED


@pytest.mark.postgres
@pytest.mark.parametrize("mode", list(SettlementMode))
def test_an_abort_racing_a_confirmation_is_refused_once_the_payment_is_booked(
    pg_url: str, mode: SettlementMode
) -> None:
    """An abort that starts while a confirmation is booking (not yet committed) is refused
    with `window_has_confirmations` once the booking commits. It used to count no
    confirmation, cancel the round and return the window to `closed` with a payment booked
    in the ledger, so the next round would have settled that part twice: a confirmation
    now takes the window's row, which the abort waits for."""
    with _two_pairs_of_coops(pg_url) as (net, window_date, _coops):
        settlement, engine = net.services.settlement, net.services.engine
        _close_now(net, window_date)
        rows = [r for r in settlement.start(window_date, actor="ops", mode=mode) if not r.internal]
        assert len(rows) >= 2
        first = rows[0]

        def abort() -> str:
            try:
                settlement.abort(window_date, actor="ops")
            except WindowError as error:
                return code_of(error)
            return "aborted"

        with blocked_rival(
            engine, lambda sql: "INSERT INTO settlement_event" in sql, abort
        ) as rival:
            settlement.confirm(
                first.reference, bank_reference="BANK1", amount=first.amount, actor="ops"
            )
        outcome = rival[0].result(timeout=30)

        statuses = {r.reference: r.status for r in settlement.instructions(window_date)}
        assert statuses[first.reference] == "confirmed"
        assert outcome == Code.WINDOW_HAS_CONFIRMATIONS
        assert settlement.summary(window_date).status is WindowStatus.SETTLING


# --- crashes between steps -----------------------------------------------------------------


class _CrashError(Exception):
    """A process dying at a chosen step."""


def _crash(*_args: Any, **_kwargs: Any) -> Any:
    raise _CrashError


@pytest.mark.postgres
def test_a_crash_after_the_close_before_the_recompute_is_finished_by_closing_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close commits on its own; if the recompute dies, closing again recomputes
    (once), books no second close, and the window may then be settled."""
    with _two_pairs_of_coops(pg_url) as (net, window_date, _coops):
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


@pytest.mark.postgres
@pytest.mark.parametrize("step", ["window_obligations", "record_event"])
def test_a_close_that_dies_midway_changes_nothing_and_a_rerun_closes_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    with _two_pairs_of_coops(pg_url) as (net, window_date, _coops):
        before = snapshot(net.services.engine)
        with monkeypatch.context() as patch:
            patch.setattr(closing_module, step, _crash)
            with pytest.raises(_CrashError):
                _close_now(net, window_date)
        assert snapshot(net.services.engine) == before

        summary = _close_now(net, window_date)

        assert (summary.newly_closed, summary.recompute_ok) == (True, True)
        assert [a for a, _ in events(net.services.engine, window_date)] == ["close", "recompute"]


@pytest.mark.postgres
@pytest.mark.parametrize("mode", list(SettlementMode))
def test_a_confirmation_that_dies_after_booking_changes_nothing_and_a_rerun_books_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, mode: SettlementMode
) -> None:
    """Dying after the ledger entry is written (in the event record, or while finishing the
    window) rolls the whole confirmation back; confirming again books exactly one entry per
    instruction and settles the window."""
    with _two_pairs_of_coops(pg_url) as (net, window_date, _coops):
        settlement = net.services.settlement
        _close_now(net, window_date)
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


# --- a cooperative suspended between its payment and the close ------------------------------


@pytest.mark.postgres
def test_a_cooperative_suspended_after_paying_is_still_closed_and_settled(pg_url: str) -> None:
    with _two_pairs_of_coops(pg_url) as (net, window_date, coops):
        net.services.registry.set_coop_status(coops[0].id, "suspended")
        settlement = net.services.settlement

        summary = _close_now(net, window_date)
        rows = settlement.start(window_date, actor="ops")
        for r in rows:
            if not r.internal:
                settlement.confirm(r.reference, bank_reference="B1", amount=r.amount, actor="ops")

        assert summary.recompute_ok is True
        assert any(p.coop_id == coops[0].id and p.net_minor < 0 for p in summary.positions)
        assert settlement.summary(window_date).status is WindowStatus.SETTLED
        assert net.due_balance(coops[0]) == 0


# --- window dates at the edge of time ------------------------------------------------------


def test_closing_a_window_in_the_far_future_is_refused_with_a_code(sqlite_url: str) -> None:
    """Closing a window dated 9999-12-31 is `window_date_invalid` (windows carry the
    ledger's business dates) and changes nothing; computing its cut-off used to leave the
    datetime range and raise OverflowError."""
    with network_on(sqlite_url) as net:
        before = snapshot(net.services.engine)
        with pytest.raises(WindowError) as refused:
            _close_now(net, date.max)
        assert code_of(refused.value) == Code.WINDOW_DATE_INVALID
        assert snapshot(net.services.engine) == before


def test_closing_a_window_in_the_far_past_is_refused_with_a_code(sqlite_url: str) -> None:
    """The window of 0001-01-01, centuries before any payment the ledger accepts, is
    `window_date_invalid` and changes nothing; it used to be closed, recomputed and settled
    like any other."""
    with network_on(sqlite_url, cutoff_s=1) as net:
        before = snapshot(net.services.engine)
        with pytest.raises(WindowError) as refused:
            _close_now(net, date.min)
        assert code_of(refused.value) == Code.WINDOW_DATE_INVALID
        assert snapshot(net.services.engine) == before


# --- the command line with hostile arguments -----------------------------------------------


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


def _error_code(result: Any) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2, result.output
    return str(json.loads(result.output)["error"])


def test_cli_close_of_a_far_future_window_exits_2_with_a_code(sqlite_url: str) -> None:
    """`kopnet settle close --date 9999-12-31` prints `window_date_invalid` and exits 2;
    it died with an OverflowError traceback."""
    with network_on(sqlite_url):
        pass
    result = _cli("settle", "close", "--date", "9999-12-31", "--database-url", sqlite_url)
    assert _error_code(result) == "window_date_invalid"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("settle", "close", "--date", "2024-02-30"), "date_invalid"),
        (("settle", "close", "--date", "yesterday"), "date_invalid"),
        (("settle", "close", "--date", "2020-01-01", "--actor", "a b"), "actor_invalid"),
        (("settle", "close", "--date", "2020-01-01", "--actor", "x" * 10_000), "actor_invalid"),
        (("settle", "start", "--date", "2020-01-02"), "window_not_closed"),
        (("settle", "abort", "--date", "2020-01-02"), "window_not_settling"),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B1", "--amount", "1e999"),
            "amount_invalid",
        ),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B1", "--amount", "9" * 20),
            "amount_too_large",
        ),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B1", "--amount", "NaN"),
            "amount_invalid",
        ),
        (
            (
                "settle",
                "confirm",
                "KN1",
                "--bank-reference",
                "B1",
                "--amount",
                "1",
                "--currency",
                "X",
            ),
            "currency_unknown",
        ),
        (
            ("settle", "confirm", "R" * 5_000, "--bank-reference", "B1", "--amount", "1.00"),
            "instruction_not_found",
        ),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B\n1", "--amount", "1.00"),
            "bank_reference_invalid",
        ),
        (("settle", "report", "--date", "2020-01-02"), "window_not_closed"),
    ],
)
def test_cli_settle_commands_refuse_hostile_arguments_with_a_code(
    sqlite_url: str, args: tuple[str, ...], code: str
) -> None:
    with network_on(sqlite_url):
        pass
    assert _error_code(_cli(*args, "--database-url", sqlite_url)) == code


def test_cli_report_to_a_missing_folder_exits_2_with_a_code(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`kopnet settle report --out DIR/missing/report.json` prints `file_invalid` and
    exits 2, like `reconcile` and `fees publish`; it died with a FileNotFoundError
    traceback."""
    with network_on(sqlite_url, cutoff_s=1) as net:
        window_date = last_due_window(net)
        _close_now(net, window_date)
    target = tmp_path / "missing" / "report.json"
    result = _cli(
        "settle",
        "report",
        "--date",
        window_date.isoformat(),
        "--out",
        str(target),
        "--database-url",
        sqlite_url,
    )
    assert _error_code(result) == "file_invalid"


def test_cli_with_an_unusable_database_url_exits_2_with_a_code() -> None:
    """`kopnet settle close --database-url nonsense` prints `database_url_invalid` and
    exits 2; it died with SQLAlchemy's ArgumentError traceback."""
    result = _cli("settle", "close", "--date", "2020-01-01", "--database-url", "nonsense")
    assert _error_code(result) == "database_url_invalid"
