"""Review of the registry's lifecycle and the non-QR payment flows (cash-in, cash-out,
transfers): hostile ids, fees that use up the amount, a coop closed with savings in it, and
the window settings.

Each test here fails on the code as reviewed; its docstring names the promise it shows
broken.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import partial

import pytest

from api.bootstrap import build
from api.settings import Settings
from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import FeeBearer, FeeRuleKey, FeeSchedule, PaymentType
from interchange.payment_model import (
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentErrorCode,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.registry_model import RegistryError, RegistryErrorCode
from tests.integration.interchange.test_payments_books import snapshot
from tests.network import TestNetwork, idr, outcome_of, qr_for

# One past the largest BIGINT: every id column in the schema is a 64-bit integer.
ID_BEYOND_BIGINT = 2**63


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
    QR discount with a minimum); a fee capped at the amount (payee receives 0) must be
    refused with a code (`amount_below_fee`), not raise AssertionError from `Movement`."""
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
    one transfer whose payee-borne fee equals its amount must not take down a valid
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


@pytest.mark.parametrize("kind", ["cash_in_member", "transfer_payee", "cash_out_member"])
def test_a_member_id_beyond_bigint_is_simply_not_found_on_sqlite(
    sqlite_net: TestNetwork, kind: str
) -> None:
    """A member id is a caller value: 2**63 must be `member_not_found` (as on PostgreSQL,
    where `row_ids` filters it), not SQLite's OverflowError from `lock_daily`, which
    queries the raw ids (payment_store.py) and sinks the whole batch."""
    ksa = sqlite_net.add_coop("KSA")
    ani = sqlite_net.add_member("ani", ksa, cash_in=10_000)
    commands: dict[str, PaymentCommand] = {
        "cash_in_member": CashIn("big", ID_BEYOND_BIGINT, ksa.id, idr(5_000)),
        "transfer_payee": Transfer("big", ani.id, ID_BEYOND_BIGINT, idr(5_000)),
        "cash_out_member": CashOut("big", ID_BEYOND_BIGINT, ksa.id, idr(5_000)),
    }
    try:
        outcome = sqlite_net.services.payments.submit(commands[kind])
    except OverflowError as error:
        pytest.fail(f"submit raised OverflowError: {error!r}")
    assert outcome.code is PaymentErrorCode.MEMBER_NOT_FOUND


def test_closing_a_coop_never_traps_its_members_savings(net: TestNetwork) -> None:
    """Closed is final, so a coop closes only once its members and merchants are closed
    (each with empty wallets): while a member still holds savings the close is refused
    (`coop_not_empty`) and the member can still withdraw at any counter."""
    ksa, ksb = net.add_coop("KSA"), net.add_coop("KSB")
    ani = net.add_member("ani", ksa, cash_in=100_000)
    registry = net.services.registry
    with pytest.raises(RegistryError) as refused:
        registry.set_coop_status(ksa.id, "closed")
    assert refused.value.code == RegistryErrorCode.COOP_NOT_EMPTY
    assert registry.coop(ksa.id).status == "active"
    outcome = net.services.payments.submit(CashOut("withdraw", ani.id, ksb.id, idr(50_000)))
    assert outcome.ok, f"the member's savings are stuck: {outcome.code}"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("window_cutoff_s", 0),
        ("window_cutoff_s", 86_401),
        ("time_zone", "Mars/Base"),
    ],
)
def test_a_bad_window_setting_is_refused_as_a_setting_not_by_an_assertion(
    sqlite_url: str, setting: str, value: object
) -> None:
    """`KOPNET_WINDOW_CUTOFF_S` and `KOPNET_TIME_ZONE` are operator input (README); a value
    out of range must be refused by the settings' validation (a ValueError, as the
    production-key check is), not surface as AssertionError or ZoneInfoNotFoundError
    from `WindowCalendar.__post_init__` in every command that builds the services."""
    try:
        settings = Settings.model_validate({"database_url": sqlite_url, setting: value})
        build(settings).close()
    except ValueError:
        return
    except (AssertionError, KeyError) as error:
        pytest.fail(f"{type(error).__name__} instead of a settings error: {error!r}")
    pytest.fail(f"{setting}={value!r} was accepted")


def test_looking_up_a_payment_id_no_payment_can_have_is_not_found(net: TestNetwork) -> None:
    """`Payments.payment` answers `original_not_found` for an id no payment can have (ids
    match `PAYMENT_ID_PATTERN`); it used to let the driver fail: a NUL gave psycopg's
    DataError on PostgreSQL, a lone surrogate UnicodeEncodeError on both engines."""
    payments = net.services.payments
    ids = {"nul": "pay\x00-1", "lone-surrogate": "pay-\ud800"}
    outcomes = {name: outcome_of(partial(payments.payment, i)) for name, i in ids.items()}
    assert outcomes == {
        "nul": "code:original_not_found",
        "lone-surrogate": "code:original_not_found",
    }


@pytest.mark.parametrize("named", ["pay\x00-1", "pay-\ud800", "x" * 500])
def test_a_refund_capture_or_void_naming_a_payment_no_id_can_be_is_not_found(
    net: TestNetwork, named: str
) -> None:
    """The payment a refund, capture or void names is caller input too: an id no payment
    can have is not found (it reached the driver: DataError for a NUL on PostgreSQL,
    UnicodeEncodeError for a lone surrogate), and nothing changes."""
    payments = net.services.payments
    before = snapshot(net.services.engine)
    commands: list[PaymentCommand] = [
        Refund("r-1", named, idr(1)),
        Capture("c-1", named),
        Void("v-1", named),
    ]
    codes = [payments.submit(command).code for command in commands]
    assert codes == [
        PaymentErrorCode.ORIGINAL_NOT_FOUND,
        PaymentErrorCode.AUTHORIZATION_NOT_FOUND,
        PaymentErrorCode.AUTHORIZATION_NOT_FOUND,
    ]
    assert snapshot(net.services.engine) == before
