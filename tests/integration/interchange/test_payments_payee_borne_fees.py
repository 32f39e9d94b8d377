"""Fees a published schedule makes the payee bear, on both engines.

`FeeSchedule` lets the payee (`merchant` bearer) bear the fee of every type but a QR
purchase, and a QR purchase's discount may have a minimum. A fee capped at the amount
leaves the payee nothing: the payment is refused with `amount_below_fee` and changes
nothing, and in a batch it is refused on its own, the other commands going through.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import FeeBearer, FeeRuleKey, FeeSchedule, PaymentType
from interchange.payment_model import (
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentErrorCode,
    QrPurchase,
    Transfer,
)
from tests.integration.interchange.test_payments_books import snapshot
from tests.network import TestNetwork, idr, qr_for


def payee_borne_service_fees(version: int = 2) -> FeeSchedule:
    """The launch tariff with the Rp2.500 cash-out and transfer fees borne by the payee
    (`merchant` bearer), which `FeeSchedule` allows for every type but QR purchases, and a
    Rp500 minimum on the QR purchase discount (small-business merchants)."""
    rules = dict(launch_schedule().rules)
    for payment_type in (PaymentType.TRANSFER, PaymentType.CASH_OUT):
        key = FeeRuleKey(payment_type=payment_type)
        rules[key] = replace(rules[key], bearer=FeeBearer.MERCHANT)
    qr = FeeRuleKey(payment_type=PaymentType.QR_PURCHASE)
    rules[qr] = replace(rules[qr], min_minor=50_000)
    return FeeSchedule(version, date(2026, 1, 1), rules)


def _fee_eating_command(net: TestNetwork, kind: str, rupiah: int) -> PaymentCommand:
    ksa, ksb = net.add_coop("KSA"), net.add_coop("KSB")
    ani = net.add_member("ani", ksa, cash_in=50_000)
    budi = net.add_member("budi", ksb)
    if kind == "transfer":
        return Transfer("eaten", ani.id, budi.id, idr(rupiah))
    if kind == "qr_purchase":
        toko = net.add_merchant("toko", ksb)
        return QrPurchase("eaten", ani.id, qr_for(toko), idr(rupiah))
    return CashOut("eaten", ani.id, ksb.id, idr(rupiah))


@pytest.mark.parametrize("rupiah", [1, 500])
@pytest.mark.parametrize("kind", ["transfer", "cash_out", "qr_purchase"])
def test_a_payment_whose_payee_borne_fee_uses_up_the_amount_is_refused_not_raised(
    net: TestNetwork, kind: str, rupiah: int
) -> None:
    """A published schedule may make the payee bear a fee (a transfer's, a cash-out's, or a
    QR discount with a minimum); a fee capped at the amount (payee receives 0) is refused
    with a code (`amount_below_fee`), not raised as AssertionError from `Movement`."""
    net.services.payments.publish_schedule(payee_borne_service_fees())
    command = _fee_eating_command(net, kind, rupiah)
    before = snapshot(net.services.engine)
    try:
        outcome = net.services.payments.submit(command)
    except AssertionError as error:
        pytest.fail(f"submit raised AssertionError instead of refusing: {error!r}")
    assert outcome.code is PaymentErrorCode.AMOUNT_BELOW_FEE
    assert snapshot(net.services.engine) == before


def test_a_fee_eating_transfer_does_not_sink_the_rest_of_its_batch(net: TestNetwork) -> None:
    """Each command of a batch succeeds or fails on its own (payment_batch.py docstring):
    one transfer whose payee-borne fee equals its amount does not take down a valid
    cash-in submitted with it."""
    net.services.payments.publish_schedule(payee_borne_service_fees())
    command = _fee_eating_command(net, "transfer", 2_500)
    ani = net.members["ani"]
    good = CashIn("good-cash-in", ani.id, net.coops[0].id, idr(20_000))
    try:
        outcomes = net.services.payments.submit_batch([good, command])
    except AssertionError as error:
        pytest.fail(f"submit_batch raised AssertionError: {error!r}")
    assert outcomes[0].ok
    assert outcomes[1].code is PaymentErrorCode.AMOUNT_BELOW_FEE
