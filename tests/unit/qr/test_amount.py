"""QR amounts, percentages and currency codes converted exactly, over exponents 0, 2 and 3."""

from __future__ import annotations

import pytest

from interchange.qr.amount import (
    currency_alpha,
    currency_numeric,
    format_amount,
    format_percentage_bps,
    parse_amount,
    parse_percentage_bps,
)
from interchange.qr.errors import QrError, QrErrorCode
from ledger.money import Money

Code = QrErrorCode


@pytest.mark.parametrize("text", ["39000.00", "39000", "39000.0"])
def test_rupiah_amount_with_or_without_decimals_decodes_to_the_same_minor_units(
    text: str,
) -> None:
    assert parse_amount(text, "IDR") == Money(3_900_000, "IDR")


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("100", "JPY", 100), ("23.72", "USD", 2372), ("1.234", "KWD", 1234), ("1.2", "KWD", 1200)],
)
def test_amount_is_scaled_by_the_currency_exponent(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency"),
    [("39000.000", "IDR"), ("39000.001", "IDR"), ("100.5", "JPY"), ("1.2345", "KWD")],
)
def test_amount_with_more_decimals_than_the_currency_allows_is_refused(
    text: str, currency: str
) -> None:
    with pytest.raises(QrError) as caught:
        parse_amount(text, currency)
    assert caught.value.code is Code.AMOUNT_INVALID


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "0.00",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1e3",
        "1,000",
        "NaN",
        "Infinity",
        "١٠٠",
        "12345678901234",
    ],
)
def test_malformed_zero_or_overlong_amount_is_refused(text: str) -> None:
    with pytest.raises(QrError) as caught:
        parse_amount(text, "IDR")
    assert caught.value.code is Code.AMOUNT_INVALID


@pytest.mark.parametrize(
    ("money", "text"),
    [(Money(3_900_000, "IDR"), "39000.00"), (Money(5, "JPY"), "5"), (Money(1, "KWD"), "0.001")],
)
def test_amount_renders_with_the_currencys_decimal_places(money: Money, text: str) -> None:
    assert format_amount(money) == text
    assert parse_amount(text, money.currency) == money


@pytest.mark.parametrize(
    ("text", "bps"),
    [("0.7", 70), ("05.00", 500), ("100", 10_000), ("12.34", 1234), ("0.01", 1)],
)
def test_percentage_becomes_whole_basis_points(text: str, bps: int) -> None:
    assert parse_percentage_bps(text) == bps


@pytest.mark.parametrize("text", ["0", "0.00", "100.01", "1000", "1.234", "-1", "5%", ""])
def test_percentage_out_of_range_or_malformed_is_refused(text: str) -> None:
    with pytest.raises(QrError) as caught:
        parse_percentage_bps(text)
    assert caught.value.code is Code.TIP_VALUE_INVALID


@pytest.mark.parametrize(
    ("bps", "text"), [(70, "0.7"), (500, "5"), (1234, "12.34"), (10_000, "100")]
)
def test_percentage_renders_in_its_shortest_exact_form(bps: int, text: str) -> None:
    assert format_percentage_bps(bps) == text
    assert parse_percentage_bps(text) == bps


def test_numeric_and_alphabetic_currency_codes_map_both_ways() -> None:
    assert currency_alpha("360") == "IDR"
    assert currency_numeric("IDR") == "360"
    assert currency_alpha(currency_numeric("BND")) == "BND"


@pytest.mark.parametrize("code", ["999", "36", "IDR"])
def test_unknown_numeric_currency_is_unsupported(code: str) -> None:
    with pytest.raises(QrError) as caught:
        currency_alpha(code)
    assert caught.value.code is Code.CURRENCY_UNSUPPORTED


def test_unknown_alphabetic_currency_is_unsupported() -> None:
    with pytest.raises(QrError) as caught:
        currency_numeric("XAU")
    assert caught.value.code is Code.CURRENCY_UNSUPPORTED
