"""Obligations between cooperatives on both engines, written with the payments that make them.

An off-us payment makes the payer's cooperative owe the payee's cooperative what the payee
received plus the payee side's fee share, and owe the network its share; an on-us payment
only owes the network its share; a refund runs the other way; holds owe nothing until
captured. Obligations are running sums per window and ordered pair, with a payment count.
"""

from __future__ import annotations

from sqlalchemy import select

from interchange import tables
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from tests.integration.interchange.test_payments_books import (
    World,
    implied_obligations,
    load_records,
    pay,
    snapshot,
    stored_obligations,
)
from tests.integration.interchange.test_payments_limits import daily_spent
from tests.network import idr, qr_for


def obligation_change(w: World, command: PaymentCommand) -> dict[tuple[int, int], tuple[int, int]]:
    """What `command` added to each (debtor, creditor) row: (amount, payment count)."""
    engine = w.net.services.engine
    before = snapshot(engine).obligations
    w.net.services.payments.pay(command)
    after = snapshot(engine).obligations
    changes: dict[tuple[int, int], tuple[int, int]] = {}
    for pair, (amount, count) in after.items():
        old_amount, old_count = before.get(pair, (0, 0))
        if (amount, count) != (old_amount, old_count):
            changes[pair] = (amount - old_amount, count - old_count)
    return changes


def test_an_off_us_purchase_owes_the_acquirer_and_the_network(w: World) -> None:
    # Rp67.890: discount 47_523; the merchant receives 6_741_477, its side's share is 19_009.
    change = obligation_change(w, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(67_890)))
    assert change == {
        (w.ksa.id, w.ksb.id): (6_741_477 + 19_009, 1),
        (w.ksa.id, w.network.id): (9_505, 1),
    }


def test_an_on_us_purchase_owes_only_the_networks_fee_share(w: World) -> None:
    change = obligation_change(w, QrPurchase("p-1", w.ani.id, qr_for(w.warung), idr(67_890)))
    assert change == {(w.ksa.id, w.network.id): (9_505, 1)}


def test_an_on_us_transfer_owes_only_the_networks_fee_share(w: World) -> None:
    change = obligation_change(w, Transfer("t-1", w.ani.id, w.citra.id, idr(10_000)))
    assert change == {(w.ksa.id, w.network.id): (50_000, 1)}


def test_a_cash_in_at_another_counter_makes_the_counter_owe_the_members_cooperative(
    w: World,
) -> None:
    change = obligation_change(w, CashIn("c-1", w.budi.id, w.ksa.id, idr(250_000)))
    # The wallet receives Rp249.000 and KSB's share is Rp500.
    assert change == {
        (w.ksa.id, w.ksb.id): (24_900_000 + 50_000, 1),
        (w.ksa.id, w.network.id): (20_000, 1),
    }


def test_a_cash_out_at_another_counter_makes_the_members_cooperative_owe_the_counter(
    w: World,
) -> None:
    change = obligation_change(w, CashOut("c-1", w.ani.id, w.ksb.id, idr(100_000)))
    assert change == {
        (w.ksa.id, w.ksb.id): (10_000_000 + 75_000, 1),
        (w.ksa.id, w.network.id): (50_000, 1),
    }


def test_a_refund_makes_the_merchants_cooperative_owe_the_payers(w: World) -> None:
    pay(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(10_000)))
    change = obligation_change(w, Refund("r-1", "p-1", idr(4_000)))
    assert change == {(w.ksb.id, w.ksa.id): (400_000, 1)}


def test_a_hold_owes_nothing_until_it_is_captured(w: World) -> None:
    assert obligation_change(w, Authorize("a-1", w.ani.id, qr_for(w.toko), idr(40_000))) == {}
    assert obligation_change(w, Capture("c-1", "a-1")) == {
        (w.ksa.id, w.ksb.id): (4_000_000 - 28_000 + 11_200, 1),
        (w.ksa.id, w.network.id): (5_600, 1),
    }


def test_a_voided_hold_owes_nothing(w: World) -> None:
    assert obligation_change(w, Authorize("a-1", w.ani.id, qr_for(w.toko), idr(40_000))) == {}
    assert obligation_change(w, Void("v-1", "a-1")) == {}


def test_the_obligation_rows_equal_the_sum_of_what_every_payment_implies(w: World) -> None:
    payments = w.net.services.payments
    for n in range(6):
        payments.pay(QrPurchase(f"p-{n}", w.ani.id, qr_for(w.toko), idr(1_234 + n)))
        payments.pay(QrPurchase(f"q-{n}", w.budi.id, qr_for(w.warung), idr(4_321 + n)))
        payments.pay(Transfer(f"t-{n}", w.budi.id, w.ani.id, idr(999 + n)))
    payments.pay(Refund("r-1", "q-0", idr(1_000)))
    expected = implied_obligations(load_records(w.net), w.network.id)
    assert stored_obligations(w.net.services.engine) == expected


def test_obligations_and_payment_rows_share_the_window_they_were_made_in(w: World) -> None:
    payments = w.net.services.payments
    purchase = payments.pay(QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1_000)))
    hold = payments.pay(Authorize("a-1", w.ani.id, qr_for(w.toko), idr(1_000)))
    assert purchase.window_date == purchase.business_date
    assert hold.window_date is None
    with w.net.services.engine.connect() as conn:
        windows = set(conn.execute(select(tables.obligation.c.window_date)).scalars())
    assert windows == {purchase.window_date}


def test_the_payment_count_counts_payments_not_amounts(w: World) -> None:
    payments = w.net.services.payments
    before = snapshot(w.net.services.engine).obligations.get((w.ksa.id, w.ksb.id), (0, 0))
    payments.submit_batch(
        [QrPurchase(f"p-{n}", w.ani.id, qr_for(w.toko), idr(1_000)) for n in range(5)]
    )
    after = snapshot(w.net.services.engine).obligations[(w.ksa.id, w.ksb.id)]
    assert after[1] - before[1] == 5
    assert after[0] - before[0] == 5 * (100_000 - 700 + 280)


def test_one_batch_adds_to_every_pair_and_every_members_day_it_touches(w: World) -> None:
    # Rows for both pairs and both members exist before the batch, so that it adds to them.
    payments = w.net.services.payments
    payments.pay(QrPurchase("p-0", w.ani.id, qr_for(w.toko), idr(1_000)))
    payments.pay(QrPurchase("q-0", w.budi.id, qr_for(w.warung), idr(1_000)))
    ani_before, budi_before = daily_spent(w, w.ani.id), daily_spent(w, w.budi.id)
    batch = [
        QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(2_000)),
        QrPurchase("q-1", w.budi.id, qr_for(w.warung), idr(3_000)),
        QrPurchase("p-2", w.ani.id, qr_for(w.toko), idr(4_000)),
        QrPurchase("w-1", w.ani.id, qr_for(w.warung), idr(700)),
        QrPurchase("q-2", w.budi.id, qr_for(w.warung), idr(1_500)),
    ]
    assert all(outcome.ok for outcome in payments.submit_batch(batch))
    records = load_records(w.net)
    # Recorded in order, after the world's funding, with the ids and amounts sent.
    written = [(r.payment_id, r.amount) for r in records[-len(batch) :]]
    assert written == [(c.payment_id, c.amount) for c in batch]
    assert stored_obligations(w.net.services.engine) == implied_obligations(records, w.network.id)
    # A QR purchase's fee is the merchant's: what the payer spends is the amount.
    assert daily_spent(w, w.ani.id) - ani_before == (2_000 + 4_000 + 700) * 100
    assert daily_spent(w, w.budi.id) - budi_before == (3_000 + 1_500) * 100
