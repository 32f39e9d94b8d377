"""Example tests for fee rules, schedules, rounding, splitting and quoting."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pytest

from interchange.fees import (
    FEE_MINOR_MAX,
    FeeBearer,
    FeeError,
    FeeErrorCode,
    FeeRule,
    FeeRuleKey,
    FeeSchedule,
    FeeSplit,
    MerchantCriteria,
    PaymentType,
    compute_fee,
    quote,
    schedule_in_force,
    select_rule,
    split_fee,
)
from ledger.money import AMOUNT_MINOR_MAX, Money

CURRENCIES = ["JPY", "IDR", "KWD"]
SPLIT = FeeSplit(issuer_bps=5000, acquirer_bps=3000, network_bps=2000)
ISSUER, ACQUIRER = 11, 22


def make_rule(currency: str = "IDR", **overrides: Any) -> FeeRule:
    fields: dict[str, Any] = {
        "currency": currency,
        "bps": 70,
        "fixed_minor": 0,
        "bearer": FeeBearer.MERCHANT,
        "split": SPLIT,
    }
    fields.update(overrides)
    return FeeRule(**fields)


def make_schedule(
    rules: Mapping[FeeRuleKey, FeeRule], version: int = 1, effective: date = date(2025, 1, 1)
) -> FeeSchedule:
    return FeeSchedule(version=version, effective_from_date=effective, rules=rules)


def default_key(payment_type: PaymentType = PaymentType.QR_PURCHASE) -> FeeRuleKey:
    return FeeRuleKey(payment_type=payment_type)


def code_of(excinfo: pytest.ExceptionInfo[FeeError]) -> FeeErrorCode:
    code = excinfo.value.code
    assert isinstance(code, FeeErrorCode)
    return code


# --- compute_fee: rounding, fixed part, bounds -------------------------------------------


def test_qris_mdr_of_0_7_percent_on_rp_39000_is_rp_273() -> None:
    fee = compute_fee(Money.parse("39000.00", "IDR"), make_rule())
    assert fee.amount == Money.parse("273.00", "IDR")
    assert fee.bearer is FeeBearer.MERCHANT


@pytest.mark.parametrize("currency", CURRENCIES)
@pytest.mark.parametrize(
    ("amount_minor", "expected_minor"),
    [(49, 0), (50, 1), (51, 1), (149, 1), (150, 2), (250, 3)],
)
def test_proportional_part_rounds_half_up_to_a_minor_unit(
    currency: str, amount_minor: int, expected_minor: int
) -> None:
    fee = compute_fee(Money(amount_minor, currency), make_rule(currency, bps=100))
    assert fee.amount == Money(expected_minor, currency)


@pytest.mark.parametrize("currency", CURRENCIES)
def test_fixed_part_is_added_after_rounding(currency: str) -> None:
    rule = make_rule(currency, bps=100, fixed_minor=7)
    assert compute_fee(Money(150, currency), rule).amount == Money(9, currency)


@pytest.mark.parametrize("currency", CURRENCIES)
def test_fee_is_raised_to_the_minimum(currency: str) -> None:
    rule = make_rule(currency, bps=10, min_minor=500)
    assert compute_fee(Money(10_000, currency), rule).amount == Money(500, currency)


@pytest.mark.parametrize("currency", CURRENCIES)
def test_fee_is_capped_at_the_maximum(currency: str) -> None:
    rule = make_rule(currency, bps=1000, max_minor=300)
    assert compute_fee(Money(1_000_000, currency), rule).amount == Money(300, currency)


@pytest.mark.parametrize("currency", CURRENCIES)
def test_merchant_borne_fee_never_exceeds_the_amount_even_below_the_minimum(
    currency: str,
) -> None:
    rule = make_rule(currency, bps=0, fixed_minor=0, min_minor=1000)
    assert compute_fee(Money(400, currency), rule).amount == Money(400, currency)


@pytest.mark.parametrize("currency", CURRENCIES)
def test_payer_borne_fee_may_exceed_a_small_amount(currency: str) -> None:
    rule = make_rule(currency, bps=0, fixed_minor=650, bearer=FeeBearer.PAYER)
    assert compute_fee(Money(100, currency), rule).amount == Money(650, currency)


@pytest.mark.parametrize("amount_minor", [0, -1])
def test_compute_fee_refuses_an_amount_that_is_not_positive(amount_minor: int) -> None:
    with pytest.raises(FeeError) as excinfo:
        compute_fee(Money(amount_minor, "IDR"), make_rule())
    assert code_of(excinfo) is FeeErrorCode.FEE_AMOUNT_NOT_POSITIVE


def test_compute_fee_refuses_an_amount_in_another_currency() -> None:
    with pytest.raises(FeeError) as excinfo:
        compute_fee(Money(100, "JPY"), make_rule("IDR"))
    assert code_of(excinfo) is FeeErrorCode.FEE_CURRENCY_MISMATCH


def test_compute_fee_refuses_a_fee_larger_than_money_can_hold() -> None:
    rule = make_rule(bps=10_000, fixed_minor=FEE_MINOR_MAX, bearer=FeeBearer.PAYER)
    with pytest.raises(FeeError) as excinfo:
        compute_fee(Money(AMOUNT_MINOR_MAX, "IDR"), rule)
    assert code_of(excinfo) is FeeErrorCode.FEE_AMOUNT_TOO_LARGE


# --- building splits, rules, keys and schedules ---------------------------------------------


@pytest.mark.parametrize(
    ("issuer_bps", "acquirer_bps", "network_bps"),
    [(5000, 3000, 1999), (5000, 3000, 2001), (-1, 5001, 5000), (10_001, 0, 0), (True, 9999, 0)],
)
def test_split_must_be_three_shares_summing_to_10000_bps(
    issuer_bps: int, acquirer_bps: int, network_bps: int
) -> None:
    with pytest.raises(FeeError) as excinfo:
        FeeSplit(issuer_bps=issuer_bps, acquirer_bps=acquirer_bps, network_bps=network_bps)
    assert code_of(excinfo) is FeeErrorCode.FEE_SPLIT_INVALID


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"currency": "XXX"}, FeeErrorCode.FEE_CURRENCY_UNKNOWN),
        ({"bps": 10_001}, FeeErrorCode.FEE_BPS_INVALID),
        ({"bps": -1}, FeeErrorCode.FEE_BPS_INVALID),
        ({"bps": 0.5}, FeeErrorCode.FEE_BPS_INVALID),
        ({"fixed_minor": -1}, FeeErrorCode.FEE_FIXED_INVALID),
        ({"fixed_minor": 1.0}, FeeErrorCode.FEE_FIXED_INVALID),
        ({"fixed_minor": FEE_MINOR_MAX + 1}, FeeErrorCode.FEE_FIXED_INVALID),
        ({"min_minor": -1}, FeeErrorCode.FEE_BOUNDS_INVALID),
        ({"max_minor": -1}, FeeErrorCode.FEE_BOUNDS_INVALID),
        ({"min_minor": 10, "max_minor": 9}, FeeErrorCode.FEE_BOUNDS_INVALID),
        ({"currency": "XXX", "bps": -1}, FeeErrorCode.FEE_CURRENCY_UNKNOWN),
        ({"bps": -1, "fixed_minor": -1}, FeeErrorCode.FEE_BPS_INVALID),
    ],
)
def test_rule_refuses_invalid_parts_in_a_fixed_order(
    overrides: dict[str, Any], expected: FeeErrorCode
) -> None:
    with pytest.raises(FeeError) as excinfo:
        make_rule(**overrides)
    assert code_of(excinfo) is expected


def test_rule_with_equal_minimum_and_maximum_charges_a_flat_fee() -> None:
    rule = make_rule(min_minor=100, max_minor=100)
    assert compute_fee(Money(100_000, "IDR"), rule).amount == Money(100, "IDR")
    assert compute_fee(Money(1_000, "IDR"), rule).amount == Money(100, "IDR")


def test_rule_key_names_both_coops_of_a_pair_or_neither() -> None:
    with pytest.raises(FeeError) as excinfo:
        FeeRuleKey(payment_type=PaymentType.TRANSFER, issuer_coop_id=1)
    assert code_of(excinfo) is FeeErrorCode.FEE_RULE_KEY_INVALID


@pytest.mark.parametrize("coop_id", [0, -5, True])
def test_rule_key_refuses_a_coop_id_that_is_not_positive(coop_id: int) -> None:
    with pytest.raises(FeeError) as excinfo:
        FeeRuleKey(payment_type=PaymentType.TRANSFER, issuer_coop_id=coop_id, acquirer_coop_id=2)
    assert code_of(excinfo) is FeeErrorCode.FEE_COOP_ID_INVALID


def test_schedule_refuses_surcharging_the_payer_on_a_qr_purchase() -> None:
    rules = {default_key(): make_rule(bearer=FeeBearer.PAYER)}
    with pytest.raises(FeeError) as excinfo:
        make_schedule(rules)
    assert code_of(excinfo) is FeeErrorCode.FEE_SURCHARGE_FORBIDDEN


@pytest.mark.parametrize(
    "payment_type", [PaymentType.CASH_IN, PaymentType.CASH_OUT, PaymentType.TRANSFER]
)
def test_schedule_allows_the_payer_to_bear_fees_outside_qr_purchases(
    payment_type: PaymentType,
) -> None:
    rules = {default_key(payment_type): make_rule(bearer=FeeBearer.PAYER)}
    assert make_schedule(rules).rules[default_key(payment_type)].bearer is FeeBearer.PAYER


@pytest.mark.parametrize(
    ("version", "effective", "rules"),
    [
        (0, date(2025, 1, 1), {default_key(): make_rule()}),
        (1, datetime(2025, 1, 1, 0, 0), {default_key(): make_rule()}),
        (1, date(2025, 1, 1), {}),
    ],
)
def test_schedule_refuses_a_bad_version_date_or_empty_rules(
    version: int, effective: date, rules: Mapping[FeeRuleKey, FeeRule]
) -> None:
    with pytest.raises(FeeError) as excinfo:
        make_schedule(rules, version=version, effective=effective)
    assert code_of(excinfo) is FeeErrorCode.FEE_SCHEDULE_INVALID


def test_rule_and_key_take_enumerations_by_their_text_as_a_quote_does() -> None:
    """Text names a bearer, payment type or criteria as it does in a quote; the rule holds
    the member, so the surcharge check (an identity test) sees a payer named by text."""
    key = FeeRuleKey(payment_type="qr_purchase", merchant_criteria="UMI")  # type: ignore[arg-type]
    assert (key.payment_type, key.merchant_criteria) == (
        PaymentType.QR_PURCHASE,
        MerchantCriteria.UMI,
    )
    assert key.payment_type is PaymentType.QR_PURCHASE
    assert make_rule(bearer="merchant").bearer is FeeBearer.MERCHANT
    with pytest.raises(FeeError) as excinfo:
        make_schedule({key: make_rule(bearer="payer")})
    assert code_of(excinfo) is FeeErrorCode.FEE_SURCHARGE_FORBIDDEN


@pytest.mark.parametrize(
    ("build", "code", "field"),
    [
        (lambda: make_rule(bearer="nobody"), FeeErrorCode.FEE_BEARER_INVALID, "bearer"),
        (lambda: make_rule(bearer=1), FeeErrorCode.FEE_BEARER_INVALID, "bearer"),
        (lambda: make_rule(split=(5000, 3000, 2000)), FeeErrorCode.FEE_SPLIT_INVALID, "split"),
        (
            lambda: FeeRuleKey(payment_type="refund"),  # type: ignore[arg-type]
            FeeErrorCode.FEE_PAYMENT_TYPE_INVALID,
            "payment_type",
        ),
        (
            lambda: FeeRuleKey(
                payment_type=PaymentType.TRANSFER,
                merchant_criteria=["UMI"],  # type: ignore[arg-type]
            ),
            FeeErrorCode.FEE_CRITERIA_INVALID,
            "merchant_criteria",
        ),
        (
            lambda: make_schedule({"qr_purchase": make_rule()}),  # type: ignore[dict-item]
            FeeErrorCode.FEE_SCHEDULE_INVALID,
            "rules",
        ),
        (
            lambda: make_schedule([default_key()]),  # type: ignore[arg-type]
            FeeErrorCode.FEE_SCHEDULE_INVALID,
            "rules",
        ),
    ],
    ids=["bearer-text", "bearer-int", "split-tuple", "type-text", "criteria-list", "key", "list"],
)
def test_schedule_parts_of_the_wrong_types_are_refused_by_name(
    build: Any, code: FeeErrorCode, field: str
) -> None:
    """What is neither the member nor its text is a named refusal with its field, not an
    AssertionError (which `python -O` would drop, letting a text payer surcharge a QR
    purchase)."""
    with pytest.raises(FeeError) as excinfo:
        build()
    assert (code_of(excinfo), excinfo.value.field) == (code, field)


def test_schedule_keeps_a_read_only_copy_of_its_rules() -> None:
    rules = {default_key(): make_rule()}
    schedule = make_schedule(rules)
    rules[default_key(PaymentType.TRANSFER)] = make_rule()
    assert list(schedule.rules) == [default_key()]
    with pytest.raises(TypeError):
        schedule.rules[default_key(PaymentType.TRANSFER)] = make_rule()  # type: ignore[index]


# --- rule precedence and schedule versions -------------------------------------------------


def precedence_schedule() -> FeeSchedule:
    qr = PaymentType.QR_PURCHASE
    return make_schedule(
        {
            FeeRuleKey(
                payment_type=qr,
                issuer_coop_id=ISSUER,
                acquirer_coop_id=ACQUIRER,
                merchant_criteria=MerchantCriteria.UMI,
            ): make_rule(bps=1),
            FeeRuleKey(payment_type=qr, issuer_coop_id=ISSUER, acquirer_coop_id=ACQUIRER): (
                make_rule(bps=2)
            ),
            FeeRuleKey(payment_type=qr, merchant_criteria=MerchantCriteria.UMI): make_rule(bps=3),
            default_key(qr): make_rule(bps=4),
        }
    )


@pytest.mark.parametrize(
    ("issuer", "acquirer", "criteria", "expected_bps"),
    [
        (ISSUER, ACQUIRER, MerchantCriteria.UMI, 1),
        (ISSUER, ACQUIRER, MerchantCriteria.UBE, 2),
        (ISSUER, ACQUIRER, None, 2),
        (ACQUIRER, ISSUER, MerchantCriteria.UMI, 3),
        (99, ACQUIRER, MerchantCriteria.UMI, 3),
        (99, ACQUIRER, MerchantCriteria.URE, 4),
        (99, ACQUIRER, None, 4),
    ],
)
def test_most_specific_rule_wins_pair_and_criteria_then_pair_then_criteria_then_default(
    issuer: int, acquirer: int, criteria: MerchantCriteria | None, expected_bps: int
) -> None:
    rule = select_rule(precedence_schedule(), PaymentType.QR_PURCHASE, issuer, acquirer, criteria)
    assert rule.bps == expected_bps


def test_select_rule_reports_a_payment_type_without_a_rule() -> None:
    with pytest.raises(FeeError) as excinfo:
        select_rule(precedence_schedule(), PaymentType.CASH_OUT, ISSUER, ACQUIRER)
    assert code_of(excinfo) is FeeErrorCode.FEE_RULE_MISSING


def test_select_rule_checks_coop_ids_before_looking_for_a_rule() -> None:
    with pytest.raises(FeeError) as excinfo:
        select_rule(precedence_schedule(), PaymentType.CASH_OUT, 0, ACQUIRER)
    assert code_of(excinfo) is FeeErrorCode.FEE_COOP_ID_INVALID


def versions() -> list[FeeSchedule]:
    rules = {default_key(): make_rule()}
    return [
        make_schedule(rules, version=1, effective=date(2025, 1, 1)),
        make_schedule(rules, version=3, effective=date(2025, 7, 1)),
        make_schedule(rules, version=2, effective=date(2025, 4, 1)),
        make_schedule(rules, version=4, effective=date(2025, 7, 1)),
    ]


@pytest.mark.parametrize(
    ("business_date", "expected_version"),
    [
        (date(2025, 1, 1), 1),
        (date(2025, 3, 31), 1),
        (date(2025, 4, 1), 2),
        (date(2025, 6, 30), 2),
        (date(2025, 7, 1), 4),
        (date(2030, 1, 1), 4),
    ],
)
def test_schedule_in_force_is_the_latest_effective_on_or_before_the_date(
    business_date: date, expected_version: int
) -> None:
    assert schedule_in_force(versions(), business_date).version == expected_version


def test_no_schedule_is_in_force_before_the_first_takes_effect() -> None:
    with pytest.raises(FeeError) as excinfo:
        schedule_in_force(versions(), date(2024, 12, 31))
    assert code_of(excinfo) is FeeErrorCode.FEE_SCHEDULE_MISSING


def test_no_schedule_is_in_force_from_an_empty_collection() -> None:
    with pytest.raises(FeeError) as excinfo:
        schedule_in_force([], date(2025, 1, 1))
    assert code_of(excinfo) is FeeErrorCode.FEE_SCHEDULE_MISSING


def test_two_schedules_with_one_version_number_are_refused() -> None:
    rules = {default_key(): make_rule()}
    twins = [make_schedule(rules, version=1), make_schedule(rules, version=1)]
    with pytest.raises(FeeError) as excinfo:
        schedule_in_force(twins, date(2025, 1, 1))
    assert code_of(excinfo) is FeeErrorCode.FEE_SCHEDULE_VERSION_DUPLICATE


# --- split_fee: remainder rule ------------------------------------------------------------


@pytest.mark.parametrize("currency", CURRENCIES)
def test_split_gives_each_party_its_exact_share_when_it_divides(currency: str) -> None:
    shares = split_fee(Money(1000, currency), SPLIT)
    assert (shares.issuer, shares.acquirer, shares.network) == (
        Money(500, currency),
        Money(300, currency),
        Money(200, currency),
    )


@pytest.mark.parametrize(
    ("fee_minor", "issuer_bps", "acquirer_bps", "network_bps", "expected"),
    [
        # Remainders 5000/3000/2000 of 10000: the single leftover unit goes to the issuer.
        (1, 5000, 3000, 2000, (1, 0, 0)),
        # Issuer 1 rem 2, acquirer and network 0 rem 9999 each: both leftovers go there.
        (3, 3334, 3333, 3333, (1, 1, 1)),
        # Two leftovers, remainders 6000/6000/8000: network first, then the tie to acquirer.
        (2, 3000, 3000, 4000, (0, 1, 1)),
        # Ties break network > acquirer > issuer.
        (1, 5000, 0, 5000, (0, 0, 1)),
        (1, 5000, 5000, 0, (0, 1, 0)),
        (1, 3334, 3333, 3333, (1, 0, 0)),
        (2, 3333, 3334, 3333, (0, 1, 1)),
    ],
)
def test_split_gives_leftover_units_to_the_largest_remainders(
    fee_minor: int,
    issuer_bps: int,
    acquirer_bps: int,
    network_bps: int,
    expected: tuple[int, int, int],
) -> None:
    split = FeeSplit(issuer_bps=issuer_bps, acquirer_bps=acquirer_bps, network_bps=network_bps)
    shares = split_fee(Money(fee_minor, "IDR"), split)
    got = (shares.issuer.amount_minor, shares.acquirer.amount_minor, shares.network.amount_minor)
    assert got == expected
    assert shares.total() == Money(fee_minor, "IDR")


def test_a_zero_bps_party_never_receives_a_leftover_unit() -> None:
    split = FeeSplit(issuer_bps=3333, acquirer_bps=6667, network_bps=0)
    for fee_minor in range(50):
        assert split_fee(Money(fee_minor, "KWD"), split).network.is_zero()


def test_split_of_a_zero_fee_is_three_zeros() -> None:
    shares = split_fee(Money(0, "JPY"), SPLIT)
    assert shares.total().is_zero()
    assert shares.issuer.is_zero()


def test_split_refuses_a_negative_fee() -> None:
    with pytest.raises(FeeError) as excinfo:
        split_fee(Money(-1, "IDR"), SPLIT)
    assert code_of(excinfo) is FeeErrorCode.FEE_AMOUNT_NEGATIVE


# --- quote ----------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", CURRENCIES)
def test_merchant_borne_quote_deducts_the_fee_from_what_the_merchant_receives(
    currency: str,
) -> None:
    schedule = make_schedule({default_key(): make_rule(currency, bps=70)}, version=7)
    result = quote(Money(3_900_000, currency), PaymentType.QR_PURCHASE, schedule, ISSUER, ACQUIRER)
    assert result.fee == Money(27_300, currency)
    assert result.bearer is FeeBearer.MERCHANT
    assert result.payer_pays == Money(3_900_000, currency)
    assert result.payee_receives == Money(3_872_700, currency)
    assert result.merchant_receives == result.payee_receives
    assert result.shares.total() == result.fee
    assert result.schedule_version == 7


@pytest.mark.parametrize("currency", CURRENCIES)
def test_payer_borne_quote_adds_the_fee_to_what_the_payer_pays(currency: str) -> None:
    rule = make_rule(currency, bps=0, fixed_minor=2500, bearer=FeeBearer.PAYER)
    schedule = make_schedule({default_key(PaymentType.TRANSFER): rule})
    result = quote(Money(100_000, currency), PaymentType.TRANSFER, schedule, ISSUER, ACQUIRER)
    assert result.payer_pays == Money(102_500, currency)
    assert result.payee_receives == Money(100_000, currency)
    assert result.payer_pays == result.payee_receives + result.fee


def test_quote_uses_the_rule_for_the_merchant_criteria() -> None:
    amount = Money.parse("10000.00", "IDR")
    result = quote(
        amount, PaymentType.QR_PURCHASE, precedence_schedule(), 1, 2, MerchantCriteria.UMI
    )
    assert result.fee == Money.parse("3.00", "IDR")


def test_quote_checks_the_amount_before_looking_for_a_rule() -> None:
    with pytest.raises(FeeError) as excinfo:
        quote(Money(0, "IDR"), PaymentType.CASH_OUT, precedence_schedule(), ISSUER, ACQUIRER)
    assert code_of(excinfo) is FeeErrorCode.FEE_AMOUNT_NOT_POSITIVE


def test_quote_refuses_an_amount_in_a_currency_the_rule_does_not_charge() -> None:
    with pytest.raises(FeeError) as excinfo:
        quote(Money(100, "KWD"), PaymentType.QR_PURCHASE, precedence_schedule(), 1, 2)
    assert code_of(excinfo) is FeeErrorCode.FEE_CURRENCY_MISMATCH


def test_quote_refuses_a_total_larger_than_money_can_hold() -> None:
    rule = make_rule(bps=10_000, bearer=FeeBearer.PAYER)
    schedule = make_schedule({default_key(PaymentType.CASH_IN): rule})
    with pytest.raises(FeeError) as excinfo:
        quote(Money(AMOUNT_MINOR_MAX, "IDR"), PaymentType.CASH_IN, schedule, 1, 2)
    assert code_of(excinfo) is FeeErrorCode.FEE_AMOUNT_TOO_LARGE


def test_fee_error_is_an_interchange_error_with_a_field() -> None:
    with pytest.raises(FeeError) as excinfo:
        make_rule(bps=-1)
    assert excinfo.value.field == "bps"
    assert isinstance(excinfo.value.code, FeeErrorCode)
