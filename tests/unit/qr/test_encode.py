"""Encoding kopnet merchant codes: spec validation codes, payload shape and a golden payload."""

from __future__ import annotations

from typing import Any

import pytest

from interchange.qr.decode import decode
from interchange.qr.encode import encode_merchant_qr
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.fees import FeeRule, TipIndicator
from interchange.qr.qris import Severity, check_qris
from interchange.qr.spec import MerchantCriteria, parse_criteria
from ledger.money import Money
from tests.unit.qr.builders import a_spec, fixed_fee, idr

Code = QrErrorCode


def spec_error(**overrides: Any) -> QrErrorCode:
    with pytest.raises(QrError) as caught:
        a_spec(**overrides)
    return caught.value.code


def test_static_spec_encodes_with_point_of_initiation_11_and_no_amount() -> None:
    decoded = decode(encode_merchant_qr(a_spec()))
    assert decoded.get("01") == "11"
    assert decoded.get("54") is None


def test_dynamic_spec_encodes_with_point_of_initiation_12_and_its_amount() -> None:
    decoded = decode(encode_merchant_qr(a_spec(amount=idr("39000"))))
    assert decoded.get("01") == "12"
    assert decoded.get("54") == "39000.00"


def test_encoded_code_carries_the_kopnet_and_national_templates() -> None:
    decoded = decode(encode_merchant_qr(a_spec()))
    assert decoded.get("26.00") == "ID.KOPNET.WWW"
    assert decoded.get("26.01") == "936000990000001234"
    assert decoded.get("26.02") == "M-77"
    assert decoded.get("26.03") == "UMI"
    assert decoded.get("51.00") == "ID.CO.QRIS.WWW"
    assert decoded.get("51.02") == "ID1021081861606"
    assert (decoded.get("53"), decoded.get("58")) == ("360", "ID")


def test_encoded_tags_come_in_ascending_order() -> None:
    spec = a_spec(amount=idr("1000"), fee_rule=fixed_fee("500"), bill_number="B1")
    tags = decode(encode_merchant_qr(spec)).tags()
    assert list(tags) == sorted(tags)


def test_additional_data_holds_bill_reference_and_terminal() -> None:
    spec = a_spec(bill_number="INV-1", reference_label="REF-2", terminal_label="T-3")
    decoded = decode(encode_merchant_qr(spec))
    assert (decoded.get("62.01"), decoded.get("62.05"), decoded.get("62.07")) == (
        "INV-1",
        "REF-2",
        "T-3",
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (FeeRule(TipIndicator.PAYER_ENTERS_TIP), {"55": "01"}),
        (FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr("500")), {"55": "02", "56": "500.00"}),
        (FeeRule(TipIndicator.PERCENTAGE_FEE, percentage_bps=70), {"55": "03", "57": "0.7"}),
    ],
)
def test_fee_rules_encode_as_tags_55_56_57(rule: FeeRule, expected: dict[str, str]) -> None:
    decoded = decode(encode_merchant_qr(a_spec(amount=idr("1000"), fee_rule=rule)))
    assert {tag: decoded.get(tag) for tag in ("55", "56", "57") if decoded.get(tag)} == expected


def test_encoded_codes_pass_the_strict_qris_check() -> None:
    spec = a_spec(amount=idr("39000"), fee_rule=fixed_fee("500"), bill_number="***")
    assert check_qris(decode(encode_merchant_qr(spec))) == ()


def test_a_code_without_national_merchant_id_only_warns() -> None:
    findings = check_qris(decode(encode_merchant_qr(a_spec(national_merchant_id=None))))
    assert [(f.code, f.severity) for f in findings] == [
        (Code.QRIS_TEMPLATE_MISSING, Severity.WARNING)
    ]


def test_a_fixed_spec_encodes_to_a_pinned_payload() -> None:
    # CRC EB19 checked independently with binascii.crc_hqx(payload_bytes, 0xFFFF).
    spec = a_spec(amount=idr("39000"), bill_number="INV-1")
    assert encode_merchant_qr(spec) == (
        "00020101021226540013ID.KOPNET.WWW01189360009900000012340204M-770303UMI"
        "51440014ID.CO.QRIS.WWW0215ID10210818616060303UMI520458125303360540839000.00"
        "5802ID5913Warung Bu Sri6006Sleman61055528162090105INV-16304EB19"
    )


def test_name_of_25_multibyte_characters_is_accepted_and_counts_characters() -> None:
    payload = encode_merchant_qr(a_spec(merchant_name="ü" * 24 + "🍜"))
    assert "5925" + "ü" * 24 + "🍜" in payload
    assert decode(payload).get("59") == "ü" * 24 + "🍜"


@pytest.mark.parametrize("network_id", ["", "has space", "x" * 33, "-leading", "ñandu"])
def test_rejects_a_malformed_merchant_network_id(network_id: str) -> None:
    assert spec_error(merchant_network_id=network_id) is Code.MERCHANT_NETWORK_ID_INVALID


def test_rejects_a_malformed_merchant_id() -> None:
    assert spec_error(merchant_id="M 77") is Code.MERCHANT_ID_INVALID


def test_rejects_a_criteria_that_is_not_a_merchant_criteria() -> None:
    assert spec_error(criteria="UMI") is Code.CRITERIA_INVALID


def test_parses_known_criteria_and_rejects_unknown_ones() -> None:
    assert parse_criteria("UBE") is MerchantCriteria.UBE
    with pytest.raises(QrError) as caught:
        parse_criteria("ubx")
    assert caught.value.code is Code.CRITERIA_INVALID


@pytest.mark.parametrize("nmid", ["", "id1021081861606", "ID10210818616060"])
def test_rejects_a_malformed_national_merchant_id(nmid: str) -> None:
    assert spec_error(national_merchant_id=nmid) is Code.NATIONAL_MERCHANT_ID_INVALID


@pytest.mark.parametrize("mcc", ["581", "58121", "58a2"])
def test_rejects_a_malformed_mcc(mcc: str) -> None:
    assert spec_error(mcc=mcc) is Code.MCC_INVALID


def test_rejects_a_currency_without_a_numeric_code() -> None:
    assert spec_error(currency="XAU") is Code.CURRENCY_UNSUPPORTED


@pytest.mark.parametrize(
    "amount",
    [Money(0, "IDR"), Money(-100, "IDR"), Money(100, "USD"), Money(10**13, "IDR")],
)
def test_rejects_a_zero_negative_foreign_or_overlong_amount(amount: Money) -> None:
    assert spec_error(amount=amount) is Code.AMOUNT_INVALID


def test_rejects_a_fixed_fee_in_another_currency() -> None:
    rule = FeeRule(TipIndicator.FIXED_FEE, fixed_fee=Money(500, "USD"))
    assert spec_error(fee_rule=rule) is Code.TIP_VALUE_INVALID


@pytest.mark.parametrize(
    "arguments",
    [
        {"indicator": TipIndicator.FIXED_FEE},
        {"indicator": TipIndicator.PAYER_ENTERS_TIP, "percentage_bps": 10},
        {"indicator": TipIndicator.FIXED_FEE, "fixed_fee": Money(0, "IDR")},
        {"indicator": TipIndicator.PERCENTAGE_FEE, "percentage_bps": 0},
        {"indicator": TipIndicator.PERCENTAGE_FEE, "percentage_bps": 10_001},
    ],
)
def test_rejects_a_fee_rule_whose_values_do_not_fit(arguments: dict[str, Any]) -> None:
    with pytest.raises(QrError) as caught:
        FeeRule(**arguments)
    assert caught.value.code is Code.TIP_VALUE_INVALID


def test_rejects_a_merchant_name_over_25_characters() -> None:
    assert spec_error(merchant_name="N" * 26) is Code.NAME_TOO_LONG


@pytest.mark.parametrize("name", ["", "Warung\nSri", "Warung\x00"])
def test_rejects_an_empty_name_or_one_with_control_characters(name: str) -> None:
    assert spec_error(merchant_name=name) is Code.VALUE_INVALID


def test_rejects_a_city_over_15_characters() -> None:
    assert spec_error(merchant_city="C" * 16) is Code.CITY_TOO_LONG


@pytest.mark.parametrize("postal_code", ["", "12345678901"])
def test_rejects_an_empty_or_overlong_postal_code(postal_code: str) -> None:
    assert spec_error(postal_code=postal_code) is Code.POSTAL_CODE_INVALID


@pytest.mark.parametrize("field", ["bill_number", "reference_label", "terminal_label"])
def test_rejects_an_additional_data_label_over_25_characters(field: str) -> None:
    assert spec_error(**{field: "L" * 26}) is Code.VALUE_INVALID


def test_spec_fields_are_checked_in_declaration_order() -> None:
    error = spec_error(merchant_network_id="", mcc="1", merchant_name="N" * 26)
    assert error is Code.MERCHANT_NETWORK_ID_INVALID
    assert spec_error(mcc="1", merchant_name="N" * 26) is Code.MCC_INVALID
