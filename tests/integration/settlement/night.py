"""A business day and its night for settlement tests: participants, payments, the cut-off.

`business_day(url)` builds a network whose window closes three seconds after it starts,
registers four cooperatives (one with a small net debit cap), their members and merchants,
and makes a day of payments of every kind, all inside that window. `two_pairs_of_coops`
is a smaller day, two purchases between two disjoint pairs of cooperatives, yielded once
its window is due. `wait_for_cutoff` sleeps until the window may be closed. The other
helpers read the database behind the services' back, so tests can check what a step wrote
and that a refused step wrote nothing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentRecord,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.registry_model import Coop, Member, Merchant
from interchange.tables import coop, obligation, payment, window_close
from ledger.account import AccountKind, AccountSpec
from ledger.money import Money
from ledger.tables import account, entry, posting
from settlement import tables as st
from settlement.closing import WindowSummary
from settlement.errors import SettlementError
from settlement.netting import NETWORK, Party, Positions, SettlementInstruction
from settlement.settling import InstructionRow
from tests.network import TestNetwork, cutoff_in, idr, network_on, qr_for

__all__ = [
    "NETWORK_SETTLEMENT_REF",
    "BusinessDay",
    "business_day",
    "close_now",
    "code_of",
    "due_balances",
    "events",
    "last_due_window",
    "ledger_nets",
    "network_settlement_balance",
    "next_day",
    "obligation_nets",
    "open_network_settlement",
    "planned",
    "positions_of",
    "snapshot",
    "two_pairs_of_coops",
    "wait_for_cutoff",
]

NETWORK_SETTLEMENT_REF = "network:settlement"
# Cooperative D's net debit cap: its day leaves it owing about Rp90.000 of it.
SMALL_CAP_RUPIAH = 100_000

_SNAPSHOT_TABLES = (
    st.window,
    st.event,
    st.position,
    st.instruction,
    window_close,
    obligation,
    payment,
    entry,
    posting,
    account,
)


@dataclass
class BusinessDay:
    """A network, its participants and the window its day of payments fell into."""

    net: TestNetwork
    window_date: date
    coops: dict[str, Coop]
    members: dict[str, Member]
    merchants: dict[str, Merchant]
    records: list[PaymentRecord]

    @property
    def engine(self) -> Engine:
        """The database every service of this network uses."""
        return self.net.services.engine

    def over_cap_purchase(self) -> QrPurchase:
        """A purchase by cooperative D's member that D's cap refuses until D settles."""
        return QrPurchase(
            "over-cap", self.members["dian"].id, qr_for(self.merchants["B"]), idr(20_000)
        )


def _day_commands(
    members: Mapping[str, Member], shops: Mapping[str, Merchant]
) -> list[PaymentCommand]:
    ani, budi, citra, dian = (members[n] for n in ("ani", "budi", "citra", "dian"))
    return [
        QrPurchase("qr-1", ani.id, qr_for(shops["B"]), idr(50_000)),
        QrPurchase("qr-2", budi.id, qr_for(shops["C"], idr(35_000))),
        QrPurchase("qr-3", citra.id, qr_for(shops["A"]), idr(12_500)),
        QrPurchase("qr-4", dian.id, qr_for(shops["B"]), idr(90_000)),
        Transfer("tr-1", budi.id, citra.id, idr(20_000)),
        Authorize("au-1", ani.id, qr_for(shops["C"]), idr(30_000)),
        Capture("cp-1", "au-1"),
        Authorize("au-2", budi.id, qr_for(shops["A"]), idr(30_000)),
        Capture("cp-2", "au-2", idr(25_000)),
        Authorize("au-3", citra.id, qr_for(shops["B"]), idr(10_000)),
        Void("vd-3", "au-3"),
        Refund("rf-1", "qr-1", idr(10_000)),
        CashIn("ci-1", citra.id, members["ani"].coop_id, idr(100_000)),
        CashOut("co-1", budi.id, citra.coop_id, idr(40_000)),
    ]


@contextmanager
def business_day(url: str) -> Iterator[BusinessDay]:
    """A network whose window closes in about three seconds, with a day of payments in it."""
    with network_on(url, cutoff_s=cutoff_in(3)) as net:
        coops = {code[-1]: net.add_coop(code) for code in ("KSA", "KSB", "KSC")}
        coops["D"] = net.add_coop("KSD", cap_rupiah=SMALL_CAP_RUPIAH)
        members = {
            "ani": net.add_member("ani", coops["A"], cash_in=1_000_000),
            "budi": net.add_member("budi", coops["B"], cash_in=1_000_000),
            "citra": net.add_member("citra", coops["C"], cash_in=500_000),
            "dian": net.add_member("dian", coops["D"], cash_in=200_000),
        }
        shops = {
            "A": net.add_merchant("Kios A", coops["A"]),
            "B": net.add_merchant("Warung B", coops["B"]),
            "C": net.add_merchant("Toko C", coops["C"]),
        }
        records = [net.services.payments.pay(c) for c in _day_commands(members, shops)]
        funding = [net.services.payments.payment(f"fund-{name}") for name in members]
        records = funding + records
        window_date = records[0].business_date
        assert {r.business_date for r in records} == {window_date}, "the day outran its window"
        yield BusinessDay(net, window_date, coops, members, shops, records)


def close_now(net: TestNetwork, window_date: date) -> WindowSummary:
    """Close the window of `window_date` as the night job does."""
    return net.services.settlement.close(window_date, actor="night-job")


@contextmanager
def two_pairs_of_coops(url: str) -> Iterator[tuple[TestNetwork, date, list[Coop]]]:
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


def wait_for_cutoff(net: TestNetwork, window_date: date) -> None:
    """Sleep until the window's cut-off has passed (by a small margin)."""
    cutoff = net.services.settlement.calendar.cutoff_at(window_date)
    wait_s = (cutoff - datetime.now(UTC)).total_seconds()
    if wait_s > 0:
        time.sleep(wait_s + 0.05)


def code_of(error: SettlementError) -> str:
    """The stable code of a settlement error, as a plain string."""
    return str(error.code)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a settlement step may write, for "nothing changed" checks."""
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in _SNAPSHOT_TABLES
        }


def events(engine: Engine, window_date: date) -> list[tuple[str, str]]:
    """The window's history as (action, actor), in the order it was written."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(st.event.c.action, st.event.c.actor)
            .where(st.event.c.window_date == window_date)
            .order_by(st.event.c.id)
        )
        return [(row.action, row.actor) for row in rows]


def due_balances(day: BusinessDay) -> dict[int, int]:
    """Each participant's (network operator included) posted due-account balance."""
    parties = [day.net.network, *day.coops.values()]
    return {c.id: day.net.due_balance(c) for c in parties}


def network_settlement_balance(engine: Engine) -> tuple[int, int]:
    """The `network:settlement` account's cached balance and the sum of its postings."""
    with engine.connect() as conn:
        found = conn.execute(
            select(account.c.id, account.c.posted_minor).where(
                account.c.ref == NETWORK_SETTLEMENT_REF
            )
        ).one()
        total = conn.execute(
            select(func.coalesce(func.sum(posting.c.amount_minor), 0)).where(
                posting.c.account_id == found.id
            )
        ).scalar_one()
        return int(found.posted_minor), int(total)


def obligation_nets(engine: Engine, window_date: date) -> dict[tuple[int, str], tuple[int, int]]:
    """(payable, receivable) per cooperative and currency, straight from the obligation rows."""
    totals: defaultdict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    with engine.connect() as conn:
        for row in conn.execute(select(obligation).where(obligation.c.window_date == window_date)):
            totals[(row.debtor_coop_id, row.currency)][0] += row.amount_minor
            totals[(row.creditor_coop_id, row.currency)][1] += row.amount_minor
    return {key: (payable, receivable) for key, (payable, receivable) in totals.items()}


def ledger_nets(engine: Engine, window_date: date) -> dict[tuple[int, str], int]:
    """Each cooperative's net (positive: it is owed) from the due-account postings of the
    window's payments; zero nets left out."""
    query = (
        select(posting.c.account_id, posting.c.currency, posting.c.amount_minor)
        .select_from(payment)
        .join(entry, entry.c.entry_id == payment.c.entry_id)
        .join(posting, posting.c.entry_seq == entry.c.seq)
        .where(payment.c.window_date == window_date)
    )
    nets: defaultdict[tuple[int, str], int] = defaultdict(int)
    with engine.connect() as conn:
        rows = conn.execute(select(coop)).all()
        network_id = next(r.id for r in rows if r.is_network)
        owner = {r.due_account_id: r.id for r in rows if not r.is_network}
        owner |= {r.network_due_account_id: network_id for r in rows}
        for account_id, currency, amount_minor in conn.execute(query):
            if account_id in owner:
                nets[(owner[account_id], currency)] -= amount_minor
    return {key: net for key, net in nets.items() if net != 0}


def positions_of(summary: WindowSummary) -> Positions:
    """A closed window's positions in the shape the netting functions take."""
    by_currency: dict[str, dict[int, Money]] = {}
    for p in summary.positions:
        by_currency.setdefault(p.currency, {})[p.coop_id] = Money(p.net_minor, p.currency)
    return by_currency


def planned(rows: list[InstructionRow]) -> list[SettlementInstruction]:
    """Stored instructions as netting instructions (`None` as a party is the network)."""

    def party(coop_id: int | None) -> Party:
        return NETWORK if coop_id is None else coop_id

    return [
        SettlementInstruction(party(r.payer_coop_id), party(r.payee_coop_id), r.amount)
        for r in rows
    ]


def next_day(window_date: date) -> date:
    """The window after `window_date`'s."""
    return window_date + timedelta(days=1)


def last_due_window(net: TestNetwork) -> date:
    """The latest window whose cut-off has passed (with a cut-off of 1 s: an empty one)."""
    calendar = net.services.settlement.calendar
    return calendar.window_date(datetime.now(UTC)) - timedelta(days=1)


def open_network_settlement(net: TestNetwork) -> int:
    """Open the operator's settlement account the way the service does; return its id.

    The service opens it when settlement first starts; tests that compare snapshots around
    a refused step open it beforehand so that both snapshots hold it.
    """
    operator = net.network
    spec = AccountSpec(
        NETWORK_SETTLEMENT_REF, operator.id, operator.currency, AccountKind.SETTLEMENT, None
    )
    return net.services.ledger.open_account(spec).id
