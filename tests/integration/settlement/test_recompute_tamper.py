"""A window whose obligations were altered behind the interchange's back fails its
recomputation against the ledger, and cannot be settled; on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from interchange.tables import obligation
from settlement.window_rules import SettlementErrorCode as Code
from settlement.window_rules import WindowError, WindowStatus
from tests.cli import invoke
from tests.conftest import TEST_SEAL_KEY
from tests.integration.settlement.night import (
    business_day,
    code_of,
    events,
    open_network_settlement,
    snapshot,
    wait_for_cutoff,
)


def test_an_altered_obligation_fails_the_recompute_and_settlement_is_refused(
    db_url: str,
) -> None:
    with business_day(db_url) as day:
        wait_for_cutoff(day.net, day.window_date)
        with day.engine.begin() as conn:
            key = conn.execute(
                select(obligation.c.debtor_coop_id, obligation.c.creditor_coop_id)
                .where(obligation.c.window_date == day.window_date)
                .order_by(obligation.c.debtor_coop_id, obligation.c.creditor_coop_id)
                .limit(1)
            ).one()
            conn.execute(
                update(obligation)
                .where(
                    obligation.c.window_date == day.window_date,
                    obligation.c.debtor_coop_id == key.debtor_coop_id,
                    obligation.c.creditor_coop_id == key.creditor_coop_id,
                )
                .values(amount_minor=obligation.c.amount_minor + 100)
            )
        settlement = day.net.services.settlement

        summary = settlement.close(day.window_date, actor="night-job")

        assert summary.status is WindowStatus.CLOSED
        assert summary.recompute_ok is False
        # The night job sees it: `kopnet settle close` replays the close and exits 1.
        cutoff_s = day.net.services.settlement.calendar.cutoff_s
        env = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode(), "KOPNET_WINDOW_CUTOFF_S": str(cutoff_s)}
        date_arg = day.window_date.isoformat()
        result = invoke("settle", "close", "--date", date_arg, "--database-url", db_url, env=env)
        assert result.exit_code == 1, result.output
        assert '"recompute_ok": false' in result.output
        assert sum(p.net_minor for p in summary.positions) == 0
        assert settlement.recompute(day.window_date, actor="auditor") is False
        open_network_settlement(day.net)
        before = snapshot(day.engine)
        with pytest.raises(WindowError) as refused:
            settlement.start(day.window_date, actor="ops-manager")
        assert code_of(refused.value) == Code.WINDOW_RECOMPUTE_FAILED
        assert snapshot(day.engine) == before
        assert settlement.summary(day.window_date).status is WindowStatus.CLOSED
        assert events(day.engine, day.window_date) == [
            ("close", "night-job"),
            ("recompute", "night-job"),
            ("recompute", "auditor"),
        ]
