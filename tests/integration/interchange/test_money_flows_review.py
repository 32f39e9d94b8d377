"""Review of the money in the non-purchase flows: capture, void, expiry, refunds, cash, transfers.

Each test states a promise the code once broke: a capture for less is priced as the
authorization was, with a percentage convenience fee on what is captured, and nobody pays
into a cooperative that is not active.
Amounts in sen; the launch tariff's QR discount is 0.7% (40/40/20).
"""

from __future__ import annotations

from dataclasses import replace

from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import FeeRuleKey, FeeSchedule, PaymentType
from interchange.payment_model import Authorize, Capture
from interchange.qr import FeeRule, TipIndicator
from tests.integration.interchange.test_payments_books import World, pay
from tests.integration.interchange.test_payments_qr import merchant_qr, sen
from tests.network import idr, qr_for

# Capture for less


def test_a_capture_for_less_charges_a_percentage_convenience_fee_on_what_is_captured(
    w: World,
) -> None:
    """A code's percentage convenience fee (tag 57) is a share of the amount: capturing half
    the amount charges the fee on that half (it kept the fee of the full amount)."""
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
    less: a schedule published after the authorization does not reprice it (it did, and
    capturing one rupiah less cost the merchant almost three times the discount)."""
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


# Daily outgoing totals


def test_a_full_capture_into_a_suspended_cooperative_is_refused_like_one_for_less(
    w: World,
) -> None:
    """Nobody pays into or out of a suspended cooperative (`coop_not_active`): a capture in
    full is refused like one for less (it used to post and add obligations to the coop)."""
    pay(w.net, Authorize("auth-1", w.ani.id, qr_for(w.toko), idr(40_000)))
    pay(w.net, Authorize("auth-2", w.ani.id, qr_for(w.toko), idr(40_000)))
    w.net.services.registry.set_coop_status(w.ksb.id, "suspended")
    less = w.net.services.payments.submit(Capture("cap-1", "auth-1", idr(30_000)))
    full = w.net.services.payments.submit(Capture("cap-2", "auth-2"))
    assert (less.code, full.code) == ("coop_not_active", "coop_not_active")
