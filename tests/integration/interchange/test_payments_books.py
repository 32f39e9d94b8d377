"""The books a payment test reads, and the invariants they keep after a mixed day.

Other payment tests import the helpers: `snapshot` reads every ledger balance and counts
every row a payment can write, `moved` gives the posted change per account between two
snapshots (only the accounts that changed), `refuse` submits a command that must fail and
checks that it changed nothing at all, and `implied_obligations` derives from the payment
rows, independently of `interchange.movement`, what each cooperative should owe.

The tests here check, on both engines, that every cooperative's own accounts sum to zero,
that the whole ledger sums to zero, and that the obligation table equals what the payment
rows imply, after a day with every kind of payment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, func, select

from interchange import tables
from interchange.criteria import MerchantCriteria
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentKind,
    PaymentOutcome,
    PaymentRecord,
    QrPurchase,
    Refund,
    Transfer,
    Void,
    entry_id_for,
)
from interchange.registry_model import Coop, KycTier, Member, Merchant
from ledger import tables as ledger_tables
from tests.network import idr, network_on, qr_for

if TYPE_CHECKING:
    # Imported for annotations only: pytest would try to collect a module-level Test* class.
    from tests.network import TestNetwork

__all__ = [
    "Snapshot",
    "World",
    "build_world",
    "implied_obligations",
    "load_records",
    "moved",
    "pay",
    "refuse",
    "snapshot",
    "stored_obligations",
]

Pair = tuple[int, int]


@dataclass(frozen=True)
class World:
    """Two cooperatives with members and merchants, funded at their own counters."""

    net: TestNetwork
    ksa: Coop
    ksb: Coop
    ani: Member  # verified, KSA, Rp5.000.000 cashed in (Rp4.999.000 in the wallet)
    budi: Member  # verified, KSB, Rp5.000.000 cashed in
    citra: Member  # basic, KSA, Rp1.000.000 cashed in
    warung: Merchant  # KSA, small business (UKE): 0.7%
    toko: Merchant  # KSB, small business (UKE): 0.7%
    mikro: Merchant  # KSB, micro business (UMI): 0.3%

    @property
    def network(self) -> Coop:
        return self.net.network


def build_world(net: TestNetwork) -> World:
    """Register the world described by `World`."""
    ksa, ksb = net.add_coop("KSA"), net.add_coop("KSB")
    return World(
        net=net,
        ksa=ksa,
        ksb=ksb,
        ani=net.add_member("ani", ksa, cash_in=5_000_000),
        budi=net.add_member("budi", ksb, cash_in=5_000_000),
        citra=net.add_member("citra", ksa, tier=KycTier.BASIC, cash_in=1_000_000),
        warung=net.add_merchant("warung", ksa),
        toko=net.add_merchant("toko", ksb),
        mikro=net.add_merchant("mikro", ksb, MerchantCriteria.UMI),
    )


@dataclass(frozen=True)
class Snapshot:
    """Every balance and every row count a payment can change."""

    balances: dict[int, tuple[int, int, int]]  # account id -> (posted, pending out, pending in)
    payments: tuple[tuple[str, str, int], ...]  # (payment id, status, refunded) by id
    entries: int
    postings: int
    obligations: dict[tuple[int, int], tuple[int, int]]
    daily: dict[int, int]


def snapshot(engine: Engine) -> Snapshot:
    """Read the books in one transaction."""
    account, payment = ledger_tables.account, tables.payment
    with engine.connect() as conn:
        balances = {
            row.id: (row.posted_minor, row.pending_debit_minor, row.pending_credit_minor)
            for row in conn.execute(select(account))
        }
        payments = tuple(
            (row.payment_id, row.status, row.refunded_minor)
            for row in conn.execute(select(payment).order_by(payment.c.payment_id))
        )
        entries = conn.execute(select(func.count()).select_from(ledger_tables.entry)).scalar_one()
        postings = conn.execute(
            select(func.count()).select_from(ledger_tables.posting)
        ).scalar_one()
        obligations = {
            (row.debtor_coop_id, row.creditor_coop_id): (row.amount_minor, row.payment_count)
            for row in conn.execute(select(tables.obligation))
        }
        # A total of zero is the same as none: a batch's load creates its members' totals
        # at zero (to lock them), whether or not its payments then go through.
        daily = {
            row.member_id: row.spent_minor
            for row in conn.execute(select(tables.member_daily))
            if row.spent_minor
        }
    return Snapshot(balances, payments, entries, postings, obligations, daily)


def moved(before: Snapshot, after: Snapshot) -> dict[int, int]:
    """The change of each account's posted balance, for the accounts that changed."""
    assert before.balances.keys() <= after.balances.keys()
    deltas = {
        account_id: after.balances[account_id][0] - before.balances[account_id][0]
        for account_id in after.balances
    }
    return {account_id: delta for account_id, delta in deltas.items() if delta != 0}


def pay(net: TestNetwork, command: PaymentCommand) -> tuple[PaymentRecord, dict[int, int]]:
    """Record `command` (it must succeed); return its record and what it moved."""
    engine = net.services.engine
    before = snapshot(engine)
    record = net.services.payments.pay(command)
    return record, moved(before, snapshot(engine))


def entry_exists(engine: Engine, entry_id: str) -> bool:
    entry = ledger_tables.entry
    with engine.connect() as conn:
        found = conn.execute(select(entry.c.seq).where(entry.c.entry_id == entry_id)).first()
    return found is not None


def refuse(net: TestNetwork, command: PaymentCommand, code: str) -> PaymentOutcome:
    """Submit `command`, expect `code`, and check that nothing at all changed."""
    engine = net.services.engine
    before = snapshot(engine)
    outcome = net.services.payments.submit(command)
    assert (outcome.code, outcome.payment, outcome.replayed) == (code, None, False)
    assert outcome.payment_id == command.payment_id
    assert snapshot(engine) == before
    assert command.payment_id not in {payment_id for payment_id, _, _ in before.payments}
    for suffix in ("", "/v"):
        assert not entry_exists(engine, entry_id_for(command.payment_id, suffix))
    return outcome


def load_records(net: TestNetwork) -> list[PaymentRecord]:
    """Every recorded payment."""
    payment = tables.payment
    with net.services.engine.connect() as conn:
        ids = list(conn.execute(select(payment.c.payment_id).order_by(payment.c.id)).scalars())
    return [net.services.payments.payment(payment_id) for payment_id in ids]


def _owed(record: PaymentRecord, network_id: int) -> Iterator[tuple[int, int, int]]:
    """(debtor, creditor, minor units) a payment row implies, written from its fields."""
    issuer, acquirer = record.issuer_coop_id, record.acquirer_coop_id
    total = record.amount.amount_minor + record.extra.amount_minor
    fee, network_fee = record.fee.amount_minor, record.network_fee.amount_minor
    if record.kind in (PaymentKind.QR_PURCHASE, PaymentKind.CAPTURE):
        yield issuer, acquirer, total - fee + record.acquirer_fee.amount_minor
        yield issuer, network_id, network_fee
    elif record.kind in (PaymentKind.TRANSFER, PaymentKind.CASH_OUT):
        yield issuer, acquirer, total + record.acquirer_fee.amount_minor
        yield issuer, network_id, network_fee
    elif record.kind is PaymentKind.CASH_IN:
        # The counter (acquirer) took the cash and owes the member's cooperative for it.
        yield acquirer, issuer, total - fee + record.issuer_fee.amount_minor
        yield acquirer, network_id, network_fee
    elif record.kind is PaymentKind.REFUND:
        yield acquirer, issuer, total
    else:
        assert record.kind in (PaymentKind.AUTHORIZATION, PaymentKind.VOID), record.kind


def implied_obligations(records: Iterable[PaymentRecord], network_id: int) -> dict[Pair, int]:
    """The sum, per (debtor, creditor), of what the payments imply; self-debts dropped."""
    totals: defaultdict[Pair, int] = defaultdict(int)
    for record in records:
        for debtor, creditor, amount_minor in _owed(record, network_id):
            if debtor != creditor and amount_minor > 0:
                totals[(debtor, creditor)] += amount_minor
    return dict(totals)


def stored_obligations(engine: Engine) -> dict[Pair, int]:
    """The obligation table, summed over windows, per (debtor, creditor)."""
    totals: defaultdict[Pair, int] = defaultdict(int)
    with engine.connect() as conn:
        for row in conn.execute(select(tables.obligation)):
            totals[(row.debtor_coop_id, row.creditor_coop_id)] += row.amount_minor
    return dict(totals)


def posted_by_coop(engine: Engine) -> dict[int, int]:
    """The sum of posted balances of every account, per cooperative."""
    account = ledger_tables.account
    query = select(account.c.coop_id, func.sum(account.c.posted_minor)).group_by(account.c.coop_id)
    with engine.connect() as conn:
        return {int(coop_id): int(total) for coop_id, total in conn.execute(query)}


# The invariants after a mixed day


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    with network_on(db_url) as net:
        yield build_world(net)


def a_mixed_day(w: World) -> list[PaymentCommand]:
    """One of every kind of payment, on-us and off-us."""
    return [
        QrPurchase("d-qr-on", w.ani.id, qr_for(w.warung), idr(12_345)),
        QrPurchase("d-qr-off", w.ani.id, qr_for(w.toko, idr(67_890))),
        QrPurchase("d-qr-umi", w.budi.id, qr_for(w.mikro), idr(4_321)),
        CashIn("d-ci", w.budi.id, w.ksa.id, idr(250_000)),
        CashOut("d-co", w.ani.id, w.ksb.id, idr(100_000)),
        Transfer("d-tr", w.budi.id, w.citra.id, idr(75_000)),
        Refund("d-rf", "d-qr-off", idr(7_890)),
        Authorize("d-au1", w.ani.id, qr_for(w.toko), idr(40_000)),
        Capture("d-cp1", "d-au1", idr(30_000)),
        Authorize("d-au2", w.budi.id, qr_for(w.warung), idr(20_000)),
        Capture("d-cp2", "d-au2"),
        Authorize("d-au3", w.citra.id, qr_for(w.toko), idr(10_000)),
        Void("d-vd3", "d-au3"),
    ]


def test_every_cooperatives_own_accounts_sum_to_zero_after_a_mixed_day(world: World) -> None:
    for command in a_mixed_day(world):
        world.net.services.payments.pay(command)
    by_coop = posted_by_coop(world.net.services.engine)
    assert set(by_coop) == {world.network.id, world.ksa.id, world.ksb.id}
    assert by_coop == dict.fromkeys(by_coop, 0)


def test_the_obligation_table_equals_what_the_payment_rows_imply_after_a_mixed_day(
    world: World,
) -> None:
    for command in a_mixed_day(world):
        world.net.services.payments.pay(command)
    records = load_records(world.net)
    assert {r.kind for r in records} == set(PaymentKind)
    expected = implied_obligations(records, world.network.id)
    assert stored_obligations(world.net.services.engine) == expected
    # Both cooperatives owe each other and the network something by now.
    assert set(expected) == {
        (world.ksa.id, world.ksb.id),
        (world.ksb.id, world.ksa.id),
        (world.ksa.id, world.network.id),
        (world.ksb.id, world.network.id),
    }


def test_each_cooperatives_due_balance_is_what_it_owes_minus_what_it_is_owed(
    world: World,
) -> None:
    for command in a_mixed_day(world):
        world.net.services.payments.pay(command)
    owed = stored_obligations(world.net.services.engine)
    for coop in (world.network, world.ksa, world.ksb):
        payable = sum(amount for (debtor, _), amount in owed.items() if debtor == coop.id)
        receivable = sum(amount for (_, creditor), amount in owed.items() if creditor == coop.id)
        assert world.net.due_balance(coop) == payable - receivable


def test_a_snapshot_sees_a_payment_and_a_refused_one_leaves_it_equal(world: World) -> None:
    engine = world.net.services.engine
    before = snapshot(engine)
    refuse(world.net, Transfer("s-1", world.ani.id, world.ani.id, idr(1)), "same_wallet")
    assert snapshot(engine) == before
    world.net.services.payments.pay(Transfer("s-2", world.ani.id, world.budi.id, idr(1)))
    after = snapshot(engine)
    assert after != before
    assert (after.entries, after.postings) > (before.entries, before.postings)
    assert len(after.payments) == len(before.payments) + 1
