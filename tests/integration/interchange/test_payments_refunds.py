"""Refunds on both engines: in full, in parts, never more than the payer paid.

A refund moves money back from the merchant's wallet to the payer's, with no fee; the
merchant discount of the original stays with the issuer, acquirer and network. Off-us,
the merchant's cooperative now owes the payer's cooperative the refund. Amounts in sen.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interchange.payment_model import (
    Authorize,
    Capture,
    PaymentKind,
    QrPurchase,
    Refund,
    Transfer,
)
from interchange.qr import FeeRule, MerchantQrSpec, TipIndicator, encode_merchant_qr
from ledger.money import Money
from tests.integration.interchange.test_payments_books import (
    World,
    build_world,
    pay,
    refuse,
    snapshot,
)
from tests.network import idr, network_on, qr_for


@pytest.fixture
def w(db_url: str) -> Iterator[World]:
    with network_on(db_url) as net:
        world = build_world(net)
        payments = net.services.payments
        # Budi's on-us purchase gives Toko enough to refund Ani's purchase in full.
        payments.pay(QrPurchase("stock", world.budi.id, qr_for(world.toko), idr(50_000)))
        payments.pay(QrPurchase("buy", world.ani.id, qr_for(world.toko), idr(10_000)))
        yield world


def sen(amount_minor: int) -> Money:
    return Money(amount_minor, "IDR")


def refunded(w: World, payment_id: str) -> Money:
    return w.net.services.payments.payment(payment_id).refunded


def test_a_full_refund_gives_the_payer_everything_back_and_the_merchant_keeps_the_fee_loss(
    w: World,
) -> None:
    record, deltas = pay(w.net, Refund("r-1", "buy", idr(10_000)))
    assert (record.kind, record.original_payment_id, record.fee) == (
        PaymentKind.REFUND,
        "buy",
        sen(0),
    )
    assert (record.issuer_coop_id, record.acquirer_coop_id) == (w.ksa.id, w.ksb.id)
    assert deltas == {
        w.toko.wallet_account_id: -1_000_000,
        w.ksb.due_account_id: 1_000_000,
        w.ani.wallet_account_id: 1_000_000,
        w.ksa.due_account_id: -1_000_000,
    }
    assert refunded(w, "buy") == idr(10_000)
    # Toko received Rp49.650 + Rp9.930 and gave back Rp10.000: the discount is not returned.
    assert w.net.balance(w.toko.wallet_account_id) == idr(49_650 + 9_930 - 10_000)


def test_partial_refunds_add_up_to_the_original_and_no_further(w: World) -> None:
    pay(w.net, Refund("r-1", "buy", idr(3_000)))
    pay(w.net, Refund("r-2", "buy", idr(7_000)))
    assert refunded(w, "buy") == idr(10_000)
    refuse(w.net, Refund("r-3", "buy", sen(1)), "refund_exceeds_original")


def test_a_refund_of_more_than_was_paid_is_refused(w: World) -> None:
    refuse(w.net, Refund("r-1", "buy", idr(10_000) + sen(1)), "refund_exceeds_original")


def test_a_second_refund_that_would_exceed_what_is_left_is_refused(w: World) -> None:
    pay(w.net, Refund("r-1", "buy", idr(6_000)))
    refuse(w.net, Refund("r-2", "buy", idr(4_000) + sen(1)), "refund_exceeds_original")
    assert refunded(w, "buy") == idr(6_000)


def test_two_refunds_in_one_batch_cannot_together_exceed_the_original(w: World) -> None:
    engine = w.net.services.engine
    before = snapshot(engine)
    outcomes = w.net.services.payments.submit_batch(
        [Refund("r-1", "buy", idr(6_000)), Refund("r-2", "buy", idr(6_000))]
    )
    assert [o.code for o in outcomes] == [None, "refund_exceeds_original"]
    assert refunded(w, "buy") == idr(6_000)
    assert len(snapshot(engine).payments) == len(before.payments) + 1


def test_a_refund_can_include_the_tip_the_payer_added(w: World) -> None:
    payload = encode_merchant_qr(
        MerchantQrSpec(
            merchant_network_id=w.toko.network_merchant_id,
            merchant_name=w.toko.name,
            merchant_city=w.toko.city,
            mcc=w.toko.mcc,
            criteria=w.toko.criteria,
            fee_rule=FeeRule(TipIndicator.PAYER_ENTERS_TIP),
        )
    )
    pay(w.net, QrPurchase("tipped", w.ani.id, payload, idr(20_000), idr(2_000)))
    refuse(w.net, Refund("r-1", "tipped", idr(22_000) + sen(1)), "refund_exceeds_original")
    _, deltas = pay(w.net, Refund("r-2", "tipped", idr(22_000)))
    assert deltas[w.ani.wallet_account_id] == 2_200_000


def test_an_on_us_refund_moves_only_the_two_wallets(w: World) -> None:
    pay(w.net, QrPurchase("buy-on", w.ani.id, qr_for(w.warung), idr(5_000)))
    _, deltas = pay(w.net, Refund("r-1", "buy-on", idr(4_000)))
    assert deltas == {w.warung.wallet_account_id: -400_000, w.ani.wallet_account_id: 400_000}


def test_a_capture_can_be_refunded_up_to_what_was_captured(w: World) -> None:
    pay(w.net, Authorize("auth", w.ani.id, qr_for(w.toko), idr(50_000)))
    pay(w.net, Capture("cap", "auth", idr(30_000)))
    refuse(w.net, Refund("r-1", "cap", idr(30_000) + sen(1)), "refund_exceeds_original")
    pay(w.net, Refund("r-2", "cap", idr(30_000)))


@pytest.mark.parametrize("original", ["transfer", "auth"])
def test_only_purchases_and_captures_can_be_refunded(w: World, original: str) -> None:
    pay(w.net, Transfer("transfer", w.ani.id, w.budi.id, idr(1_000)))
    pay(w.net, Authorize("auth", w.ani.id, qr_for(w.toko), idr(1_000)))
    refuse(w.net, Refund("r-1", original, idr(1)), "original_not_refundable")


def test_a_refund_of_an_unknown_payment_is_refused(w: World) -> None:
    refuse(w.net, Refund("r-1", "nothing-here", idr(1)), "original_not_found")


def test_a_refund_in_another_currency_is_refused(w: World) -> None:
    refuse(w.net, Refund("r-1", "buy", Money(100, "USD")), "currency_not_supported")


def test_a_merchant_cannot_refund_more_than_its_wallet_holds(w: World) -> None:
    pay(w.net, QrPurchase("buy-umi", w.ani.id, qr_for(w.mikro), idr(10_000)))
    # Mikro holds Rp9.970 after the 0.3% discount on Rp10.000.
    assert w.net.balance(w.mikro.wallet_account_id) == idr(9_970)
    refuse(w.net, Refund("r-1", "buy-umi", idr(9_970) + sen(1)), "insufficient_funds")
    pay(w.net, Refund("r-2", "buy-umi", idr(9_970)))
    assert w.net.balance(w.mikro.wallet_account_id) == idr(0)
