"""Money: exact parsing and rendering, arithmetic within one currency, and the limits.

Parametrised over currency exponents 0, 2 and 3 (JPY, IDR, KWD).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.currency import CURRENCY_EXPONENTS, currency_exponent, require_currency
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import AMOUNT_MINOR_MAX, Money

EXPONENTS = {"JPY": 0, "IDR": 2, "KWD": 3}
currencies = pytest.mark.parametrize("currency", list(EXPONENTS))


def _major(whole: str, currency: str, fraction: str = "") -> str:
    """`whole` major units written with exactly the currency's decimal places."""
    places = EXPONENTS[currency]
    return f"{whole}.{fraction.ljust(places, '0')}" if places else whole


def _code(call: object) -> Code:
    assert callable(call)
    with pytest.raises(LedgerError) as raised:
        call()
    return raised.value.code


def test_the_three_test_currencies_have_exponents_zero_two_and_three() -> None:
    assert {c: currency_exponent(c) for c in EXPONENTS} == EXPONENTS
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


@pytest.mark.parametrize("code", ["idr", "XXX", "", "IDRX", "RP"])
def test_an_unknown_currency_is_refused(code: str) -> None:
    assert _code(lambda: require_currency(code)) is Code.CURRENCY_UNKNOWN
    assert _code(lambda: Money(1, code)) is Code.CURRENCY_UNKNOWN
    assert _code(lambda: Money.parse("1", code)) is Code.CURRENCY_UNKNOWN


# Parsing and rendering.


@currencies
def test_parses_major_units_into_minor_units_exactly(currency: str) -> None:
    scale = 10 ** EXPONENTS[currency]
    assert Money.parse(_major("39000", currency), currency) == Money(39000 * scale, currency)
    assert Money.parse("39000", currency) == Money(39000 * scale, currency)
    assert Money.parse("-7", currency) == Money(-7 * scale, currency)
    assert Money.parse("0", currency).is_zero()


@currencies
def test_parses_the_smallest_unit_and_refuses_anything_finer(currency: str) -> None:
    places = EXPONENTS[currency]
    smallest = "1" if places == 0 else "0." + "0" * (places - 1) + "1"
    assert Money.parse(smallest, currency) == Money(1, currency)
    finer = "0." + "0" * places + "1"
    assert _code(lambda: Money.parse(finer, currency)) is Code.AMOUNT_INVALID
    half = "0." + "0" * places + "5"
    assert _code(lambda: Money.parse(half, currency)) is Code.AMOUNT_INVALID


@currencies
@pytest.mark.parametrize(
    "text", ["", " ", "abc", "1,5", "1.2.3", "NaN", "sNaN", "Infinity", "-Infinity", "0x10"]
)
def test_refuses_text_that_is_not_a_finite_decimal(currency: str, text: str) -> None:
    assert _code(lambda: Money.parse(text, currency)) is Code.AMOUNT_INVALID


@currencies
def test_formats_with_exactly_the_currencys_decimal_places(currency: str) -> None:
    places = EXPONENTS[currency]
    assert Money(3_900_000, currency).format() == str(Decimal(3_900_000).scaleb(-places))
    assert Money(0, currency).format() == _major("0", currency)
    assert Money(-1, currency).format() == (
        "-1" if places == 0 else "-0." + "0" * (places - 1) + "1"
    )
    assert str(Money(5 * 10**places, currency)) == f"{currency} {_major('5', currency)}"


@currencies
@given(amount_minor=st.integers(min_value=-AMOUNT_MINOR_MAX, max_value=AMOUNT_MINOR_MAX))
def test_formatting_then_parsing_gives_back_the_same_money(
    currency: str, amount_minor: int
) -> None:
    money = Money(amount_minor, currency)
    assert Money.parse(money.format(), currency) == money
    assert money.to_decimal().scaleb(EXPONENTS[currency]) == amount_minor


# Limits and types.


@currencies
def test_the_limit_is_inclusive_in_both_directions(currency: str) -> None:
    assert Money(AMOUNT_MINOR_MAX, currency).amount_minor == AMOUNT_MINOR_MAX
    assert Money(-AMOUNT_MINOR_MAX, currency).amount_minor == -AMOUNT_MINOR_MAX
    assert _code(lambda: Money(AMOUNT_MINOR_MAX + 1, currency)) is Code.AMOUNT_TOO_LARGE
    assert _code(lambda: Money(-AMOUNT_MINOR_MAX - 1, currency)) is Code.AMOUNT_TOO_LARGE


@currencies
def test_parsing_an_amount_over_the_limit_is_refused(currency: str) -> None:
    top = Money(AMOUNT_MINOR_MAX, currency)
    assert Money.parse(top.format(), currency) == top
    over = Money.parse(top.format(), currency).to_decimal() + Decimal(1).scaleb(
        -EXPONENTS[currency]
    )
    assert _code(lambda: Money.parse(str(over), currency)) is Code.AMOUNT_TOO_LARGE


@currencies
@pytest.mark.parametrize(
    "amount", [1.0, 0.5, float("nan"), True, False, Decimal(1), "1", None], ids=repr
)
def test_an_amount_that_is_not_an_int_is_refused(currency: str, amount: object) -> None:
    assert _code(lambda: Money(amount, currency)) is Code.AMOUNT_INVALID  # type: ignore[arg-type]


def test_money_is_immutable() -> None:
    money = Money(1, "IDR")
    with pytest.raises(AttributeError):
        money.amount_minor = 2  # type: ignore[misc]


# Arithmetic.


@currencies
def test_adds_subtracts_and_negates_within_one_currency(currency: str) -> None:
    a, b = Money(700, currency), Money(250, currency)
    assert (a + b, a - b, b - a, -a) == (
        Money(950, currency),
        Money(450, currency),
        Money(-450, currency),
        Money(-700, currency),
    )
    assert Money.zero(currency) + a == a
    assert (b < a, a <= a, a > b, b >= a) == (True, True, True, False)
    assert (a.is_positive(), (-a).is_positive(), Money.zero(currency).is_positive()) == (
        True,
        False,
        False,
    )


@currencies
def test_arithmetic_that_leaves_the_limit_is_refused(currency: str) -> None:
    top = Money(AMOUNT_MINOR_MAX, currency)
    assert _code(lambda: top + Money(1, currency)) is Code.AMOUNT_TOO_LARGE
    assert _code(lambda: -top - Money(1, currency)) is Code.AMOUNT_TOO_LARGE
    assert top - top == Money.zero(currency)


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda a, b: a + b, id="add"),
        pytest.param(lambda a, b: a - b, id="sub"),
        pytest.param(lambda a, b: a < b, id="lt"),
        pytest.param(lambda a, b: a <= b, id="le"),
        pytest.param(lambda a, b: a > b, id="gt"),
        pytest.param(lambda a, b: a >= b, id="ge"),
    ],
)
def test_combining_two_currencies_is_refused(operation: object) -> None:
    assert callable(operation)
    idr, jpy = Money(100, "IDR"), Money(100, "JPY")
    assert _code(lambda: operation(idr, jpy)) is Code.CURRENCY_MISMATCH
    assert _code(lambda: operation(jpy, idr)) is Code.CURRENCY_MISMATCH


def test_equal_amounts_in_different_currencies_are_not_equal() -> None:
    assert Money(100, "IDR") != Money(100, "JPY")
    assert Money(100, "IDR") == Money(100, "IDR")
    assert len({Money(100, "IDR"), Money(100, "IDR"), Money(100, "KWD")}) == 2


# Regressions (ledger/money.py, fixed in c50232a): parsing must refuse rather than round, and
# every refusal must be a LedgerError with a code. The comments say how each input failed.


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # 31 significant digits: `Decimal.scaleb` rounded to the 28-digit context first,
        # so this parsed as exactly Rp1.00 instead of being refused.
        pytest.param("1.000000000000000000000000000001", Code.AMOUNT_INVALID, id="rounded"),
        # Underflowed to zero in `scaleb` and parsed as Rp0.00.
        pytest.param("1e-9999999", Code.AMOUNT_INVALID, id="underflow"),
        # `scaleb` raised decimal.Overflow; exponents are refused as a form now.
        pytest.param("1e999999", Code.AMOUNT_INVALID, id="overflow"),
        # The error message rendered a >4300-digit int: ValueError from int-to-str limits.
        pytest.param("1e5000", Code.AMOUNT_INVALID, id="huge"),
        pytest.param("1" * 20, Code.AMOUNT_TOO_LARGE, id="twenty-digits"),
        # Forms `Decimal` reads that no amount field should take.
        pytest.param("1_000", Code.AMOUNT_INVALID, id="underscore"),
        pytest.param("+5", Code.AMOUNT_INVALID, id="plus"),
        pytest.param(" 5", Code.AMOUNT_INVALID, id="space"),
        pytest.param("5.", Code.AMOUNT_INVALID, id="bare-point"),
        pytest.param("\u0661\u0662", Code.AMOUNT_INVALID, id="arabic-indic-digits"),
        pytest.param("\uff15", Code.AMOUNT_INVALID, id="full-width-digit"),
    ],
)
def test_parsing_refuses_with_a_code_instead_of_rounding_or_crashing(text: str, code: Code) -> None:
    assert _code(lambda: Money.parse(text, "IDR")) is code


def test_an_amount_too_large_to_print_is_refused_with_a_code() -> None:
    assert _code(lambda: Money(10**5000, "IDR")) is Code.AMOUNT_TOO_LARGE


@pytest.mark.parametrize("major", [1.5, True], ids=repr)
def test_parsing_takes_only_text_and_refuses_floats_and_bools(major: object) -> None:
    # `Decimal(1.5)` and `Decimal(True)` are exact, so these used to parse as 1.50 and 1.00.
    assert _code(lambda: Money.parse(major, "IDR")) is Code.AMOUNT_INVALID  # type: ignore[arg-type]
