"""Whether a cooperative still owes or is owed in a window that has not been settled.

An obligation is settled when its window is: the window's row says `settled`, every
instruction of it confirmed. Until then (the window open, closed, or settling, even once
the coop's own instruction is confirmed) it is unsettled, whichever way it nets: a coop
owed exactly what it owes in a window still has a position there. This is the check the
registry runs before a coop closes (`interchange.coop_closing.UnsettledObligations`).
"""

from __future__ import annotations

from sqlalchemy import Connection, exists

from interchange.coop_closing import obligations_of
from interchange.tables import obligation
from settlement.tables import window
from settlement.window_rules import WindowStatus

__all__ = ["coop_has_unsettled_obligations"]


def coop_has_unsettled_obligations(conn: Connection, coop_id: int) -> bool:
    """True when the coop is debtor or creditor of an obligation whose window is not settled."""
    settled = exists().where(
        window.c.window_date == obligation.c.window_date,
        window.c.status == WindowStatus.SETTLED.value,
    )
    query = obligations_of(coop_id).where(~settled).limit(1)
    return conn.execute(query).first() is not None
