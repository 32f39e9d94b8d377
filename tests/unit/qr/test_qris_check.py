"""The strict QRIS check: each rule as a finding with a code and a severity."""

from __future__ import annotations

import pytest

from interchange.qr.decode import decode
from interchange.qr.errors import QrErrorCode
from interchange.qr.qris import QrisFinding, Severity, check_qris
from tests.unit.qr.builders import payload_from, with_crc

Code = QrErrorCode
ERROR = Severity.ERROR
WARNING = Severity.WARNING


def findings_for(changes: dict[str, str | None]) -> set[tuple[QrErrorCode, Severity, str | None]]:
    findings = check_qris(decode(payload_from(changes)))
    return {(f.code, f.severity, f.field) for f in findings}


def test_a_clean_static_code_has_no_findings() -> None:
    assert check_qris(decode(payload_from())) == ()


def test_a_clean_dynamic_code_has_no_findings() -> None:
    assert findings_for({"01": "12", "54": "39000.00"}) == set()


def test_findings_are_immutable_values() -> None:
    finding = QrisFinding(Code.MCC_INVALID, ERROR, "52", "x")
    with pytest.raises(AttributeError):
        finding.code = Code.NAME_TOO_LONG  # type: ignore[misc]


def test_a_static_code_without_national_template_51_is_only_a_warning() -> None:
    assert findings_for({"51": None}) == {(Code.QRIS_TEMPLATE_MISSING, WARNING, "51")}


def test_merchant_name_over_25_characters_is_an_error() -> None:
    assert findings_for({"59": "N" * 26}) == {(Code.NAME_TOO_LONG, ERROR, "59")}


def test_merchant_name_of_25_unicode_characters_is_fine() -> None:
    assert findings_for({"59": "é" * 25}) == set()


def test_city_over_15_characters_is_an_error() -> None:
    assert findings_for({"60": "C" * 16}) == {(Code.CITY_TOO_LONG, ERROR, "60")}


@pytest.mark.parametrize("mcc", ["581", "58120", "58A2", "٥٨١٢"])
def test_mcc_must_be_exactly_four_ascii_digits(mcc: str) -> None:
    assert findings_for({"52": mcc}) == {(Code.MCC_INVALID, ERROR, "52")}


@pytest.mark.parametrize("currency", ["36", "IDR", "3600"])
def test_currency_must_be_three_digits(currency: str) -> None:
    assert findings_for({"53": currency}) == {(Code.CURRENCY_INVALID, ERROR, "53")}


@pytest.mark.parametrize("country", ["id", "IDN", "I1"])
def test_country_must_be_two_upper_case_letters(country: str) -> None:
    assert findings_for({"58": country}) == {(Code.COUNTRY_INVALID, ERROR, "58")}


@pytest.mark.parametrize("amount", ["39000", "39000.5", "39000.00", "0.01"])
def test_well_formed_amounts_pass(amount: str) -> None:
    assert findings_for({"01": "12", "54": amount}) == set()


@pytest.mark.parametrize(
    "amount",
    ["39000.000", "+39000", "-1", " 100", "100.", ".5", "1e3", "1,000", "abc", "0", "0.00", "00"],
)
def test_malformed_amounts_are_errors(amount: str) -> None:
    """Zero is malformed too: a code's amount is above zero, as extraction requires."""
    assert findings_for({"01": "12", "54": amount}) == {(Code.AMOUNT_INVALID, ERROR, "54")}


def test_a_dynamic_code_without_an_amount_is_an_error() -> None:
    assert findings_for({"01": "12"}) == {(Code.AMOUNT_MISSING, ERROR, "54")}


def test_a_static_code_with_an_amount_is_a_warning() -> None:
    assert findings_for({"54": "1000"}) == {(Code.AMOUNT_UNEXPECTED, WARNING, "54")}


@pytest.mark.parametrize("initiation", ["10", "13", "1"])
def test_point_of_initiation_must_be_11_or_12(initiation: str) -> None:
    expected = {(Code.POINT_OF_INITIATION_INVALID, ERROR, "01")}
    assert findings_for({"01": initiation}) == expected


def test_a_missing_point_of_initiation_is_an_error() -> None:
    assert findings_for({"01": None}) == {(Code.POINT_OF_INITIATION_INVALID, ERROR, "01")}


@pytest.mark.parametrize(
    "fees",
    [
        {"55": "01"},
        {"55": "02", "56": "500"},
        {"55": "02", "56": "500.00"},
        {"55": "03", "57": "0.7"},
        {"55": "03", "57": "05.00"},
        {"55": "03", "57": "100"},
    ],
)
def test_consistent_tip_and_fee_indicators_pass(fees: dict[str, str | None]) -> None:
    assert findings_for(fees) == set()


def test_tip_indicator_outside_01_02_03_is_an_error() -> None:
    assert findings_for({"55": "04"}) == {(Code.TIP_INDICATOR_INVALID, ERROR, "55")}


@pytest.mark.parametrize(
    ("fees", "field"),
    [
        ({"55": "01", "56": "500"}, "56"),
        ({"55": "02"}, "56"),
        ({"55": "02", "56": "500", "57": "1"}, "57"),
        ({"55": "03"}, "57"),
        ({"55": "03", "56": "500", "57": "1"}, "56"),
        ({"56": "500"}, "55"),
        ({"55": "02", "56": "5.000"}, "56"),
        ({"55": "03", "57": "100.01"}, "57"),
        ({"55": "03", "57": "0"}, "57"),
        ({"55": "02", "56": "0"}, "56"),
        ({"55": "02", "56": "0.00"}, "56"),
        ({"55": "03", "57": "1.234"}, "57"),
    ],
)
def test_fee_values_that_do_not_fit_the_indicator_are_errors(
    fees: dict[str, str | None], field: str
) -> None:
    assert findings_for(fees) == {(Code.TIP_VALUE_INVALID, ERROR, field)}


def test_postal_code_over_10_characters_is_an_error() -> None:
    assert findings_for({"61": "12345678901"}) == {(Code.POSTAL_CODE_INVALID, ERROR, "61")}


def test_additional_data_label_over_25_characters_is_an_error() -> None:
    additional = "0126" + "B" * 26
    assert findings_for({"62": additional}) == {(Code.VALUE_INVALID, ERROR, "62.01")}


@pytest.mark.parametrize("tag", ["52", "53", "58", "59", "60"])
def test_each_missing_emvco_mandatory_tag_is_an_error(tag: str) -> None:
    assert findings_for({tag: None}) == {(Code.MANDATORY_TAG_MISSING, ERROR, tag)}


def test_a_payload_over_512_characters_is_an_error() -> None:
    long_data = "9995" + "x" * 95
    changes: dict[str, str | None] = {f"{tag}": long_data for tag in range(80, 86)}
    findings = findings_for(changes)
    assert findings == {(Code.PAYLOAD_TOO_LONG, ERROR, None)}


def test_every_broken_rule_is_reported_in_rule_order_not_just_the_first() -> None:
    payload = payload_from({"51": None, "52": "111", "59": "N" * 26, "60": "C" * 16})
    codes = [finding.code for finding in check_qris(decode(payload))]
    assert codes == [
        Code.QRIS_TEMPLATE_MISSING,
        Code.MCC_INVALID,
        Code.NAME_TOO_LONG,
        Code.CITY_TOO_LONG,
    ]


def test_tags_in_non_canonical_order_are_accepted() -> None:
    body = "000201010211" + "26050001x" + "5802ID" + "5303360" + "5204581259015" + "6001J"
    assert check_qris(decode(with_crc(body))) == (
        QrisFinding(Code.QRIS_TEMPLATE_MISSING, WARNING, "51", "no national QRIS template (51)"),
    )
