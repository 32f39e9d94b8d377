"""Confirming and aborting a settlement round while another confirmation is booking,
against real PostgreSQL.

A confirmation takes the window's row before it books, so confirmations of one window and
an abort are ordered: the round's last two confirmations at once still end the window
`settled`, and an abort that waited for a booking is refused once the booking commits.
"""

from __future__ import annotations

from typing import Any

import pytest

from settlement.netting import SettlementMode
from settlement.window_rules import SettlementErrorCode as Code
from settlement.window_rules import WindowError, WindowStatus
from tests.integration.settlement.night import close_now, code_of, two_pairs_of_coops
from tests.races import blocked_rival

pytestmark = pytest.mark.postgres


def test_the_last_two_bilateral_confirmations_at_once_settle_the_window(pg_url: str) -> None:
    """The last two (disjoint) bilateral instructions confirmed at once: the second starts
    while the first checks whether anything is still pending, before it commits. The
    window ends `settled`. The two bookings share no account, so only the window orders
    them: a confirmation takes the window's row first, so the second waits and then finds
    nothing pending (rather than each seeing the other pending and the window staying
    `settling` forever)."""
    with two_pairs_of_coops(pg_url) as (net, window_date, coops):
        settlement = net.services.settlement
        assert close_now(net, window_date).recompute_ok is True
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


@pytest.mark.parametrize("mode", list(SettlementMode))
def test_an_abort_racing_a_confirmation_is_refused_once_the_payment_is_booked(
    pg_url: str, mode: SettlementMode
) -> None:
    """An abort that starts while a confirmation is booking (not yet committed) waits for
    the window's row, which the confirmation holds, and is refused with
    `window_has_confirmations` once the booking commits: it never cancels a round with a
    payment booked in the ledger, which the next round would settle twice."""
    with two_pairs_of_coops(pg_url) as (net, window_date, _coops):
        settlement, engine = net.services.settlement, net.services.engine
        close_now(net, window_date)
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
