"""Extracting a kopnet payment request from a decoded payload, and refusing other networks."""

from __future__ import annotations

import pytest

from interchange.qr.decode import decode
from interchange.qr.encode import encode_merchant_qr
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.fees import FeeRule, TipIndicator
from interchange.qr.kopnet import KopnetPaymentRequest, extract_payment_request
from interchange.qr.spec import MerchantCriteria
from interchange.qr.tlv import serialize
from ledger.money import Money
from tests.unit.qr.builders import a_spec, idr, payload_from

Code = QrErrorCode


def request_from(changes: dict[str, str | None]) -> KopnetPaymentRequest:
    return extract_payment_request(decode(payload_from(changes)))


def error_from(changes: dict[str, str | None]) -> QrErrorCode:
    with pytest.raises(QrError) as caught:
        request_from(changes)
    return caught.value.code


def test_static_request_has_no_amount() -> None:
    request = request_from({})
    assert request.is_dynamic is False
    assert request.amount is None
    assert request.merchant_network_id == "936000990000001234"
    assert request.merchant_id == "M-77"
    assert request.criteria is MerchantCriteria.UMI
    assert (request.merchant_name, request.merchant_city, request.mcc) == (
        "Warung Bu Sri",
        "Sleman",
        "5812",
    )


@pytest.mark.parametrize("text", ["39000.00", "39000"])
def test_dynamic_amount_with_or_without_decimals_is_3900000_minor_rupiah(text: str) -> None:
    request = request_from({"01": "12", "54": text})
    assert request.is_dynamic is True
    assert request.amount == Money(3_900_000, "IDR")


def test_amount_with_more_decimals_than_rupiah_allows_is_refused() -> None:
    assert error_from({"01": "12", "54": "39000.001"}) is Code.AMOUNT_INVALID


def test_amount_with_trailing_zero_beyond_the_exponent_is_refused() -> None:
    assert error_from({"01": "12", "54": "39000.000"}) is Code.AMOUNT_INVALID


def test_dynamic_code_without_amount_is_refused() -> None:
    assert error_from({"01": "12"}) is Code.AMOUNT_MISSING


def test_static_code_with_amount_is_refused() -> None:
    assert error_from({"54": "1000"}) is Code.AMOUNT_UNEXPECTED


def test_point_of_initiation_outside_11_and_12_is_refused() -> None:
    assert error_from({"01": None}) is Code.POINT_OF_INITIATION_INVALID


def test_currency_without_a_known_numeric_code_is_refused() -> None:
    assert error_from({"53": "999"}) is Code.CURRENCY_UNSUPPORTED


def test_amount_is_read_in_the_payloads_currency() -> None:
    request = request_from({"01": "12", "53": "392", "54": "500"})
    assert request.amount == Money(500, "JPY")


@pytest.mark.parametrize("tag", ["52", "53", "58", "59", "60"])
def test_missing_mandatory_tag_is_refused(tag: str) -> None:
    assert error_from({tag: None}) is Code.MANDATORY_TAG_MISSING


def test_another_networks_code_is_not_kopnet_even_with_tags_missing() -> None:
    other = serialize((("00", "COM.GO-JEK.WWW"), ("01", "936009143545600781")))
    assert error_from({"26": other, "59": None}) is Code.NOT_KOPNET


def test_kopnet_template_is_found_under_any_merchant_account_tag() -> None:
    ours = serialize((("00", "id.kopnet.www"), ("01", "KOP-1")))
    other = serialize((("00", "COM.GO-JEK.WWW"), ("01", "936009143545600781")))
    request = request_from({"26": other, "33": ours})
    assert request.merchant_network_id == "KOP-1"
    assert request.criteria is None


@pytest.mark.parametrize(
    ("account", "code"),
    [
        ((("00", "ID.KOPNET.WWW"),), Code.MERCHANT_NETWORK_ID_INVALID),
        ((("00", "ID.KOPNET.WWW"), ("01", "a b")), Code.MERCHANT_NETWORK_ID_INVALID),
        ((("00", "ID.KOPNET.WWW"), ("01", "K1"), ("02", "a b")), Code.MERCHANT_ID_INVALID),
        ((("00", "ID.KOPNET.WWW"), ("01", "K1"), ("03", "XXX")), Code.CRITERIA_INVALID),
    ],
)
def test_malformed_kopnet_account_is_refused(
    account: tuple[tuple[str, str], ...], code: QrErrorCode
) -> None:
    assert error_from({"26": serialize(account)}) is code


@pytest.mark.parametrize(
    ("fees", "rule"),
    [
        ({"55": "01"}, FeeRule(TipIndicator.PAYER_ENTERS_TIP)),
        ({"55": "02", "56": "500"}, FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr("500"))),
        ({"55": "03", "57": "0.7"}, FeeRule(TipIndicator.PERCENTAGE_FEE, percentage_bps=70)),
    ],
)
def test_tip_and_fee_rules_are_read(fees: dict[str, str | None], rule: FeeRule) -> None:
    assert request_from({"01": "12", "54": "1000", **fees}).fee_rule == rule


def test_unknown_tip_indicator_is_refused() -> None:
    assert error_from({"55": "09"}) is Code.TIP_INDICATOR_INVALID


@pytest.mark.parametrize(
    "fees", [{"55": "01", "56": "500"}, {"55": "02", "56": "5.001"}, {"57": "1"}]
)
def test_fee_value_that_does_not_fit_is_refused(fees: dict[str, str | None]) -> None:
    assert error_from(fees) is Code.TIP_VALUE_INVALID


def test_additional_data_labels_are_read() -> None:
    spec = a_spec(bill_number="***", reference_label="R-1", terminal_label="T-1")
    request = extract_payment_request(decode(encode_merchant_qr(spec)))
    assert (request.bill_number, request.reference_label, request.terminal_label) == (
        "***",
        "R-1",
        "T-1",
    )


def test_not_kopnet_is_checked_before_anything_else() -> None:
    other = serialize((("00", "br.gov.bcb.pix"), ("01", "x")))
    assert error_from({"26": other, "01": "12", "53": "999", "55": "09"}) is Code.NOT_KOPNET
