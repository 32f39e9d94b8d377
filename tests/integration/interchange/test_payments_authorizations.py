"""Authorizations on both engines: hold, capture in full or for less, void, expire.

An authorization holds what the payer would pay for `timeout_s`; a capture posts the
purchase (in full, or for less, releasing the rest), a void releases the hold, and once
the timeout passes the hold expires. Each authorization moves on exactly once. A capture
for less is priced as the authorization was (its schedule, a percentage convenience fee
on what is captured). Amounts in sen; Rp40.000 to Toko carries a 0.7% discount of 28_000,
split 11_200/11_200/5_600.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import FeeRuleKey, FeeSchedule, PaymentType
from interchange.payment_model import (
    AUTHORIZATION_TIMEOUT_S_MAX,
    Authorize,
    Capture,
    PaymentKind,
    PaymentStatus,
    QrPurchase,
    Void,
)
from interchange.qr import FeeRule, TipIndicator
from ledger.account import Account
from ledger.money import Money
from tests.integration.interchange.test_payments_books import World, pay, refuse
from tests.integration.interchange.test_payments_qr import merchant_qr
from tests.network import idr, qr_for

ANI_FUNDS = 499_900_000  # Rp5.000.000 cashed in, less the Rp1.000 fee


def sen(amount_minor: int) -> Money:
    return Money(amount_minor, "IDR")


def account(w: World, account_id: int) -> Account:
    return w.net.services.ledger.account(account_id)


def status(w: World, payment_id: str) -> PaymentStatus:
    return w.net.services.payments.payment(payment_id).status


def authorize(w: World, rupiah: int = 40_000, timeout_s: int = 900) -> None:
    command = Authorize("auth", w.ani.id, qr_for(w.toko), idr(rupiah), timeout_s=timeout_s)
    w.net.services.payments.pay(command)


def test_an_authorization_holds_the_funds_and_moves_no_posted_balance(w: World) -> None:
    record, deltas = pay(w.net, Authorize("auth", w.ani.id, qr_for(w.toko), idr(40_000)))
    assert (record.kind, record.status, record.fee) == (
        PaymentKind.AUTHORIZATION,
        PaymentStatus.AUTHORIZED,
        sen(28_000),
    )
    assert deltas == {}
    wallet = account(w, w.ani.wallet_account_id)
    assert (wallet.posted_minor, wallet.pending_debit_minor) == (ANI_FUNDS, 4_000_000)
    assert wallet.available == sen(ANI_FUNDS - 4_000_000)
    assert account(w, w.toko.wallet_account_id).pending_credit_minor == 4_000_000 - 28_000


def test_a_full_capture_posts_the_purchase_and_releases_the_hold(w: World) -> None:
    authorize(w)
    record, deltas = pay(w.net, Capture("cap", "auth"))
    assert (record.kind, record.original_payment_id, record.amount) == (
        PaymentKind.CAPTURE,
        "auth",
        idr(40_000),
    )
    assert (record.fee, record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        sen(28_000),
        sen(11_200),
        sen(11_200),
        sen(5_600),
    )
    assert deltas == {
        w.ani.wallet_account_id: -4_000_000,
        w.ksa.fee_account_id: 11_200,
        w.ksa.due_account_id: 4_000_000 - 11_200,
        w.toko.wallet_account_id: 4_000_000 - 28_000,
        w.ksb.fee_account_id: 11_200,
        w.ksb.due_account_id: -(4_000_000 - 28_000 + 11_200),
        w.ksa.network_fee_account_id: 5_600,
        w.ksa.network_due_account_id: -5_600,
    }
    assert account(w, w.ani.wallet_account_id).pending_debit_minor == 0
    assert account(w, w.toko.wallet_account_id).pending_credit_minor == 0
    assert status(w, "auth") is PaymentStatus.CAPTURED


def test_a_capture_for_less_posts_the_smaller_purchase_and_releases_the_rest(w: World) -> None:
    authorize(w)
    record, deltas = pay(w.net, Capture("cap", "auth", idr(30_000)))
    # Discount on Rp30.000: 21_000 → 8_400/8_400/4_200.
    assert (record.amount, record.fee) == (idr(30_000), sen(21_000))
    assert (record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        sen(8_400),
        sen(8_400),
        sen(4_200),
    )
    assert deltas == {
        w.ani.wallet_account_id: -3_000_000,
        w.ksa.fee_account_id: 8_400,
        w.ksa.due_account_id: 3_000_000 - 8_400,
        w.toko.wallet_account_id: 3_000_000 - 21_000,
        w.ksb.fee_account_id: 8_400,
        w.ksb.due_account_id: -(3_000_000 - 21_000 + 8_400),
        w.ksa.network_fee_account_id: 4_200,
        w.ksa.network_due_account_id: -4_200,
    }
    wallet = account(w, w.ani.wallet_account_id)
    assert wallet.pending_debit_minor == 0
    assert wallet.available == sen(ANI_FUNDS - 3_000_000)
    assert status(w, "auth") is PaymentStatus.CAPTURED


def test_a_capture_for_less_keeps_a_micro_merchants_lower_discount(w: World) -> None:
    pay(w.net, Authorize("auth", w.ani.id, qr_for(w.mikro), idr(100_000)))
    record, deltas = pay(w.net, Capture("cap", "auth", idr(50_000)))
    assert record.fee == sen(15_000)  # 0.3% of Rp50.000
    assert deltas[w.mikro.wallet_account_id] == 5_000_000 - 15_000


def test_a_capture_for_less_charges_a_percentage_convenience_fee_on_what_is_captured(
    w: World,
) -> None:
    """A code's percentage convenience fee (tag 57) is a share of the amount: capturing half
    the amount charges the fee on that half, not the fee of the full amount."""
    rule = FeeRule(TipIndicator.PERCENTAGE_FEE, percentage_bps=200)  # 2%
    payload = merchant_qr(w.toko, fee_rule=rule)
    auth, _ = pay(w.net, Authorize("auth", w.ani.id, payload, idr(100_000)))
    assert auth.extra == idr(2_000)
    record, deltas = pay(w.net, Capture("cap", "auth", idr(50_000)))
    assert record.extra == idr(1_000)
    assert deltas[w.ani.wallet_account_id] == -(5_000_000 + 100_000)


def test_a_capture_for_less_is_priced_by_the_authorizations_schedule_like_a_full_capture(
    w: World,
) -> None:
    """A full capture keeps the authorization's fee (schedule v1), and so does a capture for
    less: a schedule published after the authorization does not reprice it (repriced,
    capturing one rupiah less would cost the merchant almost three times the discount)."""
    auth, _ = pay(w.net, Authorize("auth", w.ani.id, qr_for(w.toko), idr(40_000)))
    assert (auth.schedule_version, auth.fee) == (1, sen(28_000))
    base = launch_schedule()
    dearer = dict(base.rules)
    key = FeeRuleKey(payment_type=PaymentType.QR_PURCHASE)
    dearer[key] = replace(base.rules[key], bps=200)
    w.net.services.payments.publish_schedule(FeeSchedule(2, auth.business_date, dearer))
    record, _ = pay(w.net, Capture("cap", "auth", idr(39_999)))
    # 0.7% of Rp39.999 is 27_999.3 -> 27_999, at the authorization's schedule.
    assert (record.schedule_version, record.fee) == (1, sen(27_999))


def test_a_capture_for_more_than_was_authorized_is_refused(w: World) -> None:
    authorize(w)
    refuse(w.net, Capture("cap", "auth", idr(40_000) + sen(1)), "capture_exceeds_authorization")
    assert status(w, "auth") is PaymentStatus.AUTHORIZED


def test_a_capture_in_another_currency_is_refused(w: World) -> None:
    authorize(w)
    refuse(w.net, Capture("cap", "auth", Money(100, "USD")), "capture_exceeds_authorization")


def test_a_void_releases_the_hold_and_moves_nothing(w: World) -> None:
    authorize(w)
    record, deltas = pay(w.net, Void("void", "auth"))
    assert (record.kind, record.original_payment_id) == (PaymentKind.VOID, "auth")
    assert deltas == {}
    wallet = account(w, w.ani.wallet_account_id)
    assert (wallet.posted_minor, wallet.pending_debit_minor) == (ANI_FUNDS, 0)
    assert account(w, w.toko.wallet_account_id).pending_credit_minor == 0
    assert status(w, "auth") is PaymentStatus.VOIDED


def test_an_authorization_cannot_be_captured_after_it_was_voided(w: World) -> None:
    authorize(w)
    pay(w.net, Void("void", "auth"))
    refuse(w.net, Capture("cap", "auth"), "authorization_not_open")


def test_an_authorization_cannot_be_voided_after_it_was_captured(w: World) -> None:
    authorize(w)
    pay(w.net, Capture("cap", "auth"))
    refuse(w.net, Void("void", "auth"), "authorization_not_open")


def test_an_authorization_cannot_be_captured_twice(w: World) -> None:
    authorize(w)
    pay(w.net, Capture("cap-1", "auth", idr(10_000)))
    refuse(w.net, Capture("cap-2", "auth", idr(10_000)), "authorization_not_open")


def test_a_capture_and_a_void_in_one_batch_cannot_both_win(w: World) -> None:
    authorize(w)
    outcomes = w.net.services.payments.submit_batch([Capture("cap", "auth"), Void("void", "auth")])
    assert [o.code for o in outcomes] == [None, "authorization_not_open"]
    assert status(w, "auth") is PaymentStatus.CAPTURED


def test_only_an_authorization_can_be_captured(w: World) -> None:
    pay(w.net, QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(1_000)))
    refuse(w.net, Capture("cap", "buy"), "authorization_not_found")


def test_an_unknown_authorization_cannot_be_voided(w: World) -> None:
    refuse(w.net, Void("void", "nothing-here"), "authorization_not_found")


def test_an_authorization_beyond_the_available_balance_is_refused(w: World) -> None:
    command = Authorize("auth", w.citra.id, qr_for(w.toko), idr(999_000) + sen(1))
    refuse(w.net, command, "insufficient_funds")


@pytest.mark.parametrize("timeout_s", [0, -1, AUTHORIZATION_TIMEOUT_S_MAX + 1])
def test_an_authorization_with_a_timeout_out_of_range_is_refused(w: World, timeout_s: int) -> None:
    command = Authorize("auth", w.ani.id, qr_for(w.toko), idr(1_000), timeout_s=timeout_s)
    refuse(w.net, command, "timeout_invalid")


# Expiry


def test_an_expired_authorization_is_marked_expired_and_its_funds_released(w: World) -> None:
    authorize(w, timeout_s=1)
    assert w.net.services.payments.expire_authorizations() == 0
    time.sleep(1.5)
    assert w.net.services.payments.expire_authorizations() == 1
    assert status(w, "auth") is PaymentStatus.EXPIRED
    wallet = account(w, w.ani.wallet_account_id)
    assert (wallet.posted_minor, wallet.pending_debit_minor) == (ANI_FUNDS, 0)
    assert account(w, w.toko.wallet_account_id).pending_credit_minor == 0
    assert w.net.services.payments.expire_authorizations() == 0
    refuse(w.net, Capture("cap", "auth"), "authorization_expired")
    refuse(w.net, Void("void", "auth"), "authorization_expired")


def test_an_authorization_past_its_timeout_cannot_be_captured_before_the_sweep(
    w: World,
) -> None:
    authorize(w, timeout_s=1)
    time.sleep(1.5)
    refuse(w.net, Capture("cap", "auth"), "authorization_expired")
    assert status(w, "auth") is PaymentStatus.AUTHORIZED


def test_an_authorization_past_its_timeout_cannot_be_captured_for_less_before_the_sweep(
    w: World,
) -> None:
    authorize(w, timeout_s=1)
    time.sleep(1.5)
    refuse(w.net, Capture("cap", "auth", idr(30_000)), "authorization_expired")
