"""QR purchases on both engines: static and dynamic codes, tips, convenience fees, the fee.

Launch tariff: a merchant discount of 0.7% (0.3% for micro merchants, UMI) on what the
payer pays, split 40% issuer / 40% acquirer / 20% network by largest remainder. Every
amount below is in minor units (sen) and every test checks each account that moved, so an
account missing from an expectation did not move.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from interchange.fee_schedule import MerchantCriteria, PaymentType
from interchange.payment_model import PaymentKind, PaymentStatus, QrPurchase
from interchange.qr import FeeRule, MerchantQrSpec, TipIndicator, encode_merchant_qr
from interchange.qr.crc import crc_hex
from interchange.qr.tlv import serialize
from interchange.registry_model import Merchant
from ledger.money import Money
from tests.integration.interchange.test_payments_books import (
    World,
    pay,
    refuse,
)
from tests.network import idr, qr_for


def sen(amount_minor: int) -> Money:
    return Money(amount_minor, "IDR")


def merchant_qr(merchant: Merchant, **fields: Any) -> str:
    """The merchant's code with extra spec fields (amount, fee_rule, currency)."""
    return encode_merchant_qr(
        MerchantQrSpec(
            merchant_network_id=merchant.network_merchant_id,
            merchant_name=merchant.name,
            merchant_city=merchant.city,
            mcc=merchant.mcc,
            criteria=merchant.criteria,
            **fields,
        )
    )


TIP_PROMPT = FeeRule(TipIndicator.PAYER_ENTERS_TIP)


# The fee and the books, on-us and off-us


def test_an_on_us_static_purchase_keeps_the_whole_fee_but_the_networks_share_at_home(
    w: World,
) -> None:
    # 1_234_567 × 0.7% = 8641.97 → 8642; 40/40/20 floors 3456/3456/1728 leave 2 units,
    # which go to the larger remainders (issuer and acquirer, 0.8 each; network 0.4).
    record, deltas = pay(w.net, QrPurchase("p-on", w.ani.id, qr_for(w.warung), sen(1_234_567)))
    assert (record.kind, record.status, record.is_off_us) == (
        PaymentKind.QR_PURCHASE,
        PaymentStatus.COMPLETED,
        False,
    )
    assert (record.amount, record.extra, record.fee, record.fee_bearer) == (
        sen(1_234_567),
        sen(0),
        sen(8_642),
        "merchant",
    )
    assert (record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        sen(3_457),
        sen(3_457),
        sen(1_728),
    )
    assert deltas == {
        w.ani.wallet_account_id: -1_234_567,
        w.warung.wallet_account_id: 1_234_567 - 8_642,
        w.ksa.fee_account_id: 3_457 + 3_457,
        w.ksa.due_account_id: 1_728,
        w.ksa.network_fee_account_id: 1_728,
        w.ksa.network_due_account_id: -1_728,
    }


def test_an_off_us_dynamic_purchase_moves_money_through_both_due_accounts(w: World) -> None:
    # 6_789_000 × 0.7% = 47_523; floors 19_009/19_009/9_504 leave 1 unit, which goes to
    # the network (remainder 0.6 against 0.2 and 0.2).
    record, deltas = pay(w.net, QrPurchase("p-off", w.ani.id, qr_for(w.toko, idr(67_890))))
    assert record.is_off_us and (record.issuer_coop_id, record.acquirer_coop_id) == (
        w.ksa.id,
        w.ksb.id,
    )
    assert (record.fee, record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        sen(47_523),
        sen(19_009),
        sen(19_009),
        sen(9_505),
    )
    assert deltas == {
        w.ani.wallet_account_id: -6_789_000,
        w.ksa.fee_account_id: 19_009,
        w.ksa.due_account_id: 6_789_000 - 19_009,
        w.toko.wallet_account_id: 6_789_000 - 47_523,
        w.ksb.fee_account_id: 19_009,
        w.ksb.due_account_id: -(6_789_000 - 47_523 + 19_009),
        w.ksa.network_fee_account_id: 9_505,
        w.ksa.network_due_account_id: -9_505,
    }


def test_a_micro_merchant_pays_the_lower_discount_of_three_tenths_of_a_percent(
    w: World,
) -> None:
    # 432_100 × 0.3% = 1296.3 → 1296; floors 518/518/259 leave 1 unit; issuer and acquirer
    # tie at 0.4, and the tie goes to the acquirer.
    record, deltas = pay(w.net, QrPurchase("p-umi", w.ani.id, qr_for(w.mikro), idr(4_321)))
    assert (record.fee, record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        sen(1_296),
        sen(518),
        sen(519),
        sen(259),
    )
    assert deltas[w.mikro.wallet_account_id] == 432_100 - 1_296
    assert deltas[w.ani.wallet_account_id] == -432_100


def test_the_payer_never_pays_the_merchant_discount(w: World) -> None:
    _, deltas = pay(w.net, QrPurchase("p-1", w.budi.id, qr_for(w.toko), idr(100_000)))
    assert deltas[w.budi.wallet_account_id] == -10_000_000
    assert deltas[w.toko.wallet_account_id] == 10_000_000 - 70_000


# Static and dynamic codes


def test_a_dynamic_code_may_be_paid_with_its_own_amount_repeated(w: World) -> None:
    record, _ = pay(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko, idr(5_000)), idr(5_000)))
    assert record.amount == idr(5_000)


def test_a_dynamic_code_refuses_a_different_amount(w: World) -> None:
    command = QrPurchase("p-1", w.ani.id, qr_for(w.toko, idr(5_000)), idr(4_999))
    refuse(w.net, command, "qr_amount_mismatch")


def test_a_static_code_needs_the_amount_the_payer_enters(w: World) -> None:
    refuse(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko)), "qr_amount_required")


@pytest.mark.parametrize("rupiah", [0, -1])
def test_a_static_code_refuses_an_amount_that_is_not_positive(w: World, rupiah: int) -> None:
    refuse(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(rupiah)), "amount_invalid")


def test_a_code_naming_no_registered_merchant_is_refused(w: World) -> None:
    stranger = replace(w.toko, network_merchant_id="KN999999S9999")
    refuse(w.net, QrPurchase("p-1", w.ani.id, qr_for(stranger), idr(1)), "merchant_not_found")


def test_a_code_from_another_network_is_refused(w: World) -> None:
    account = serialize((("00", "ID.CO.BANKLAIN.WWW"), ("01", "9360001234567890")))
    body = serialize(
        (
            ("00", "01"),
            ("01", "11"),
            ("26", account),
            ("52", "5812"),
            ("53", "360"),
            ("58", "ID"),
            ("59", "Toko Lain"),
            ("60", "Bandung"),
        )
    )
    payload = body + "6304" + crc_hex(body + "6304")
    refuse(w.net, QrPurchase("p-1", w.ani.id, payload, idr(1_000)), "qr_not_kopnet")


def test_a_damaged_code_is_refused_with_its_qr_code(w: World) -> None:
    payload = qr_for(w.toko)
    damaged = payload[:-4] + ("0000" if payload[-4:] != "0000" else "FFFF")
    refuse(w.net, QrPurchase("p-1", w.ani.id, damaged, idr(1_000)), "qr_crc_mismatch")


def test_a_code_in_another_currency_is_refused(w: World) -> None:
    payload = merchant_qr(w.toko, currency="USD", amount=Money(1_000, "USD"))
    refuse(w.net, QrPurchase("p-1", w.ani.id, payload), "currency_not_supported")


def test_an_amount_in_another_currency_is_refused(w: World) -> None:
    command = QrPurchase("p-1", w.ani.id, qr_for(w.toko), Money(1_000, "USD"))
    refuse(w.net, command, "currency_not_supported")


def test_a_static_code_in_another_currency_is_refused_whatever_the_payer_enters(
    w: World,
) -> None:
    payload = merchant_qr(w.toko, currency="USD")
    refuse(w.net, QrPurchase("p-1", w.ani.id, payload, idr(1_000)), "currency_not_supported")


# Tips and convenience fees (tags 55, 56, 57)


def test_a_tip_prompt_adds_the_tip_to_what_the_payer_pays_and_the_discount_base(
    w: World,
) -> None:
    payload = merchant_qr(w.toko, fee_rule=TIP_PROMPT)
    record, deltas = pay(w.net, QrPurchase("p-1", w.ani.id, payload, idr(20_000), idr(5_000)))
    # Discount on Rp25.000: 17_500 → 7_000/7_000/3_500.
    assert (record.amount, record.extra, record.fee) == (idr(20_000), idr(5_000), sen(17_500))
    assert (record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        sen(7_000),
        sen(7_000),
        sen(3_500),
    )
    assert deltas == {
        w.ani.wallet_account_id: -2_500_000,
        w.ksa.fee_account_id: 7_000,
        w.ksa.due_account_id: 2_500_000 - 7_000,
        w.toko.wallet_account_id: 2_500_000 - 17_500,
        w.ksb.fee_account_id: 7_000,
        w.ksb.due_account_id: -(2_500_000 - 17_500 + 7_000),
        w.ksa.network_fee_account_id: 3_500,
        w.ksa.network_due_account_id: -3_500,
    }


def test_a_tip_prompt_may_be_answered_with_no_tip(w: World) -> None:
    payload = merchant_qr(w.toko, fee_rule=TIP_PROMPT)
    record, deltas = pay(w.net, QrPurchase("p-1", w.ani.id, payload, idr(20_000)))
    assert record.extra == idr(0)
    assert deltas[w.ani.wallet_account_id] == -2_000_000


def test_a_tip_on_a_code_without_a_tip_prompt_is_refused(w: World) -> None:
    command = QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(20_000), idr(1_000))
    refuse(w.net, command, "tip_not_allowed")


def test_a_tip_on_a_code_with_a_convenience_fee_is_refused(w: World) -> None:
    payload = merchant_qr(w.toko, fee_rule=FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr(2_000)))
    command = QrPurchase("p-1", w.ani.id, payload, idr(20_000), idr(1_000))
    refuse(w.net, command, "tip_not_allowed")


def test_a_tip_that_is_not_positive_is_refused(w: World) -> None:
    payload = merchant_qr(w.toko, fee_rule=TIP_PROMPT)
    refuse(w.net, QrPurchase("p-1", w.ani.id, payload, idr(1_000), idr(0)), "amount_invalid")


def test_a_fixed_convenience_fee_is_added_for_the_payer_and_discounted_with_the_amount(
    w: World,
) -> None:
    payload = merchant_qr(w.toko, fee_rule=FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr(2_000)))
    record, deltas = pay(w.net, QrPurchase("p-1", w.ani.id, payload, idr(48_000)))
    # Discount on Rp50.000: 35_000 → 14_000/14_000/7_000.
    assert (record.amount, record.extra, record.fee) == (idr(48_000), idr(2_000), sen(35_000))
    assert deltas[w.ani.wallet_account_id] == -5_000_000
    assert deltas[w.toko.wallet_account_id] == 5_000_000 - 35_000
    assert deltas[w.ksa.network_fee_account_id] == 7_000


def test_a_percentage_convenience_fee_rounds_half_up_to_a_whole_sen(w: World) -> None:
    payload = merchant_qr(w.toko, fee_rule=FeeRule(TipIndicator.PERCENTAGE_FEE, percentage_bps=150))
    # 3_333_333 × 1.5% = 49_999.995 → 50_000; discount on 3_383_333: 23_683.33 → 23_683,
    # split 9_473.2/9_473.2/4_736.6 → 9_473/9_473/4_737.
    record, deltas = pay(w.net, QrPurchase("p-1", w.ani.id, payload, sen(3_333_333)))
    assert (record.extra, record.fee) == (sen(50_000), sen(23_683))
    assert (record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        sen(9_473),
        sen(9_473),
        sen(4_737),
    )
    assert deltas[w.ani.wallet_account_id] == -3_383_333
    assert deltas[w.toko.wallet_account_id] == 3_383_333 - 23_683


def test_a_dynamic_code_with_a_convenience_fee_charges_both(w: World) -> None:
    rule = FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr(1_000))
    payload = merchant_qr(w.toko, amount=idr(9_000), fee_rule=rule)
    _, deltas = pay(w.net, QrPurchase("p-1", w.ani.id, payload))
    assert deltas[w.ani.wallet_account_id] == -1_000_000


def test_a_tip_in_another_currency_is_refused_without_failing_the_rest_of_the_batch(
    w: World,
) -> None:
    payload = merchant_qr(w.toko, fee_rule=TIP_PROMPT)
    good = QrPurchase("p-good", w.ani.id, qr_for(w.toko), idr(1_000))
    bad = QrPurchase("p-bad", w.ani.id, payload, idr(1_000), Money(100, "USD"))
    outcomes = w.net.services.payments.submit_batch([good, bad])
    assert [o.code for o in outcomes] == [None, "currency_not_supported"]


# Quotes


def test_a_quote_shows_exactly_what_the_purchase_then_charges(w: World) -> None:
    quote = w.net.services.payments.quote(
        idr(67_890),
        PaymentType.QR_PURCHASE,
        w.ani.coop_id,
        w.toko.coop_id,
        merchant_criteria=MerchantCriteria.UKE,
    )
    record, deltas = pay(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(67_890)))
    assert quote.payer_pays == quote.payee_receives + quote.fee
    assert (quote.fee, quote.shares.issuer, quote.shares.acquirer, quote.shares.network) == (
        record.fee,
        record.issuer_fee,
        record.acquirer_fee,
        record.network_fee,
    )
    assert deltas[w.ani.wallet_account_id] == -quote.payer_pays.amount_minor
    assert deltas[w.toko.wallet_account_id] == quote.payee_receives.amount_minor
