"""Property tests for fee arithmetic: exact splits, balanced quotes, bounded fees, and
quotes at the very limits of `Money` (amounts up to 10^15, fixed parts and bounds up to
`FEE_MINOR_MAX`), where the only refusal is `fee_amount_too_large`."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from math import floor

from hypothesis import given, settings
from hypothesis import strategies as st

from interchange.fees import (
    BPS_WHOLE,
    FEE_MINOR_MAX,
    FeeBearer,
    FeeError,
    FeeErrorCode,
    FeeRule,
    FeeRuleKey,
    FeeSchedule,
    FeeSplit,
    PaymentType,
    compute_fee,
    quote,
    split_fee,
)
from ledger.money import AMOUNT_MINOR_MAX, Money

CURRENCIES = ("JPY", "IDR", "KWD")
AMOUNT_MINOR_TOP = 10**12

currencies = st.sampled_from(CURRENCIES)
amounts_minor = st.integers(min_value=1, max_value=AMOUNT_MINOR_TOP)
extreme_minor = st.integers(min_value=0, max_value=FEE_MINOR_MAX) | st.sampled_from(
    [0, 1, FEE_MINOR_MAX - 1, FEE_MINOR_MAX]
)
extreme_amounts = st.integers(min_value=1, max_value=AMOUNT_MINOR_MAX) | st.sampled_from(
    [1, 2, AMOUNT_MINOR_MAX - 1, AMOUNT_MINOR_MAX]
)


@st.composite
def fee_splits(draw: st.DrawFn) -> FeeSplit:
    issuer_bps = draw(st.integers(min_value=0, max_value=BPS_WHOLE))
    acquirer_bps = draw(st.integers(min_value=0, max_value=BPS_WHOLE - issuer_bps))
    network_bps = BPS_WHOLE - issuer_bps - acquirer_bps
    return FeeSplit(issuer_bps=issuer_bps, acquirer_bps=acquirer_bps, network_bps=network_bps)


@st.composite
def fee_rules(draw: st.DrawFn, currency: str, bearer: FeeBearer | None = None) -> FeeRule:
    bound = st.none() | st.integers(min_value=0, max_value=10**7)
    min_minor, max_minor = draw(bound), draw(bound)
    if min_minor is not None and max_minor is not None and min_minor > max_minor:
        min_minor, max_minor = max_minor, min_minor
    return FeeRule(
        currency=currency,
        bps=draw(st.integers(min_value=0, max_value=BPS_WHOLE)),
        fixed_minor=draw(st.integers(min_value=0, max_value=10**6)),
        bearer=bearer if bearer is not None else draw(st.sampled_from(FeeBearer)),
        split=draw(fee_splits()),
        min_minor=min_minor,
        max_minor=max_minor,
    )


def half_up(value: Fraction) -> int:
    """Reference rounding, written independently of the code under test."""
    return floor(value + Fraction(1, 2))


@settings(deadline=None)
@given(currency=currencies, fee_minor=st.integers(min_value=0, max_value=10**12), data=st.data())
def test_split_shares_add_up_exactly_and_are_never_negative(
    currency: str, fee_minor: int, data: st.DataObject
) -> None:
    split = data.draw(fee_splits())
    shares = split_fee(Money(fee_minor, currency), split)
    assert shares.total() == Money(fee_minor, currency)
    pairs = [
        (shares.issuer, split.issuer_bps),
        (shares.acquirer, split.acquirer_bps),
        (shares.network, split.network_bps),
    ]
    for share, bps in pairs:
        assert share.amount_minor >= 0
        exact = Fraction(fee_minor * bps, BPS_WHOLE)
        assert abs(share.amount_minor - exact) < 1
        if bps == 0:
            assert share.is_zero()


@settings(deadline=None)
@given(currency=currencies, amount_minor=amounts_minor, data=st.data())
def test_fee_stays_within_its_bounds_except_the_merchant_amount_cap(
    currency: str, amount_minor: int, data: st.DataObject
) -> None:
    rule = data.draw(fee_rules(currency))
    fee = compute_fee(Money(amount_minor, currency), rule).amount.amount_minor
    assert fee >= 0
    if rule.max_minor is not None:
        assert fee <= rule.max_minor
    if rule.bearer is FeeBearer.MERCHANT:
        assert fee <= amount_minor
    if rule.min_minor is not None and fee < rule.min_minor:
        assert rule.bearer is FeeBearer.MERCHANT
        assert fee == amount_minor


@settings(deadline=None)
@given(
    currency=currencies,
    amount_minor=amounts_minor,
    bps=st.integers(min_value=0, max_value=BPS_WHOLE),
    fixed_minor=st.integers(min_value=0, max_value=10**6),
    split=fee_splits(),
)
def test_unbounded_payer_fee_is_the_half_up_rounded_rate_plus_the_fixed_part(
    currency: str, amount_minor: int, bps: int, fixed_minor: int, split: FeeSplit
) -> None:
    rule = FeeRule(
        currency=currency, bps=bps, fixed_minor=fixed_minor, bearer=FeeBearer.PAYER, split=split
    )
    fee = compute_fee(Money(amount_minor, currency), rule)
    expected = half_up(Fraction(amount_minor * bps, BPS_WHOLE)) + fixed_minor
    assert fee.amount == Money(expected, currency)


@settings(deadline=None)
@given(
    currency=currencies,
    amount_minor=amounts_minor,
    payment_type=st.sampled_from(PaymentType),
    issuer_coop_id=st.integers(min_value=1, max_value=50),
    acquirer_coop_id=st.integers(min_value=1, max_value=50),
    data=st.data(),
)
def test_payer_pays_exactly_what_the_payee_receives_plus_the_fee(
    currency: str,
    amount_minor: int,
    payment_type: PaymentType,
    issuer_coop_id: int,
    acquirer_coop_id: int,
    data: st.DataObject,
) -> None:
    # QRIS forbids surcharging a QR purchase, so only the merchant may bear that fee.
    bearer = FeeBearer.MERCHANT if payment_type is PaymentType.QR_PURCHASE else None
    rule = data.draw(fee_rules(currency, bearer))
    key = FeeRuleKey(payment_type=payment_type)
    schedule = FeeSchedule(version=1, effective_from_date=date(2025, 1, 1), rules={key: rule})
    amount = Money(amount_minor, currency)
    result = quote(amount, payment_type, schedule, issuer_coop_id, acquirer_coop_id)
    assert result.payer_pays == result.payee_receives + result.fee
    assert result.shares.total() == result.fee
    assert result.fee == compute_fee(amount, rule).amount
    if rule.bearer is FeeBearer.MERCHANT:
        assert result.payer_pays == amount
        assert result.payee_receives.amount_minor >= 0
    else:
        assert result.payee_receives == amount


@settings(deadline=None)
@given(
    currency=st.sampled_from(["JPY", "IDR", "KWD"]),
    amount_minor=extreme_amounts,
    bps=st.integers(min_value=0, max_value=BPS_WHOLE),
    fixed_minor=extreme_minor,
    bounds=st.tuples(st.none() | extreme_minor, st.none() | extreme_minor),
    payment_type=st.sampled_from(PaymentType),
    bearer=st.sampled_from(FeeBearer),
    split=fee_splits(),
)
def test_a_quote_at_the_limits_of_money_balances_or_is_refused_as_too_large(
    currency: str,
    amount_minor: int,
    bps: int,
    fixed_minor: int,
    bounds: tuple[int | None, int | None],
    payment_type: PaymentType,
    bearer: FeeBearer,
    split: FeeSplit,
) -> None:
    """Amounts up to 10^15 and fixed parts and bounds up to `FEE_MINOR_MAX` (the properties
    above stop at 10^12 and 10^7): the only refusal is `fee_amount_too_large`; the shares
    add up, none is negative, the maximum holds, the minimum yields only to the merchant's
    amount cap, and a QR purchase never surcharges the payer."""
    low, high = bounds
    if low is not None and high is not None and low > high:
        low, high = high, low
    if payment_type is PaymentType.QR_PURCHASE:
        bearer = FeeBearer.MERCHANT
    rule = FeeRule(
        currency=currency,
        bps=bps,
        fixed_minor=fixed_minor,
        bearer=bearer,
        split=split,
        min_minor=low,
        max_minor=high,
    )
    schedule = FeeSchedule(1, date(2026, 1, 1), {FeeRuleKey(payment_type=payment_type): rule})
    amount = Money(amount_minor, currency)
    refused: FeeError | None = None
    try:
        priced = quote(amount, payment_type, schedule, 1, 2)
    except FeeError as error:
        refused = error
    if refused is not None:
        assert refused.code is FeeErrorCode.FEE_AMOUNT_TOO_LARGE
        assert bearer is FeeBearer.PAYER
        return
    fee_minor = priced.fee.amount_minor
    shares = (priced.shares.issuer, priced.shares.acquirer, priced.shares.network)
    assert sum(share.amount_minor for share in shares) == fee_minor
    assert all(share.amount_minor >= 0 for share in shares)
    assert priced.payer_pays == priced.payee_receives + priced.fee
    assert priced.payee_receives.amount_minor >= 0
    if high is not None:
        assert fee_minor <= high
    if low is not None and fee_minor < low:
        assert (bearer, fee_minor) == (FeeBearer.MERCHANT, amount_minor)
    if payment_type is PaymentType.QR_PURCHASE:
        assert priced.payer_pays == amount
