"""Decoding: one example per structural error code, the check order, and the accessors."""

from __future__ import annotations

import dataclasses

import pytest

from interchange.qr.decode import PAYLOAD_CHARS_MAX_SCANNED, decode
from interchange.qr.errors import QrError, QrErrorCode
from tests.unit.qr.builders import BASE_OBJECTS, KOPNET_ACCOUNT, payload_from, with_crc

Code = QrErrorCode


def code_of(payload: str) -> QrErrorCode:
    with pytest.raises(QrError) as caught:
        decode(payload)
    return caught.value.code


def test_decodes_a_clean_payload_with_templates_and_sub_tags() -> None:
    decoded = decode(payload_from())
    assert decoded.get("26.00") == "ID.KOPNET.WWW"
    assert decoded.get("26") == KOPNET_ACCOUNT
    assert decoded.get("59") == "Warung Bu Sri"
    assert decoded.tags()[0] == "00"
    assert decoded.tags()[-1] == "63"


def test_get_returns_none_for_absent_tags_and_sub_tags_of_primitives() -> None:
    decoded = decode(payload_from())
    assert decoded.get("54") is None
    assert decoded.get("26.09") is None
    assert decoded.get("59.01") is None


def test_as_dict_lists_templates_followed_by_their_sub_tags() -> None:
    flat = decode(payload_from()).as_dict()
    keys = list(flat)
    assert keys[keys.index("26") + 1 : keys.index("26") + 5] == [
        "26.00",
        "26.01",
        "26.02",
        "26.03",
    ]
    assert flat["51.02"] == "ID1021081861606"


def test_decoded_payload_is_immutable() -> None:
    decoded = decode(payload_from())
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.payload = "x"  # type: ignore[misc]


def test_accepts_a_lower_case_crc() -> None:
    payload = payload_from()
    decoded = decode(payload[:-4] + payload[-4:].lower())
    assert decoded.get("59") == "Warung Bu Sri"


def test_rejects_a_payload_longer_than_any_qr_symbol_holds() -> None:
    assert code_of("0" * (PAYLOAD_CHARS_MAX_SCANNED + 1)) is Code.PAYLOAD_TOO_LONG


@pytest.mark.parametrize("bad", ["\x00", "\n", "\ud800"])
def test_rejects_control_characters_and_lone_surrogates(bad: str) -> None:
    payload = payload_from()
    # The character check runs first, so the CRC need not (and for a surrogate cannot) match.
    assert code_of(payload[:60] + bad + payload[60:]) is Code.CHARACTERS_INVALID


def test_rejects_a_non_numeric_tag() -> None:
    assert code_of(with_crc("000201AA02xx")) is Code.TAG_INVALID


def test_rejects_unicode_digits_in_a_tag() -> None:
    assert code_of(with_crc("000201²102xx")) is Code.TAG_INVALID


@pytest.mark.parametrize("body", ["00020101X211", "0002010100", "000201010312"])
def test_rejects_bad_length_digits_zero_length_and_overruns(body: str) -> None:
    assert code_of(body) is Code.LENGTH_INVALID


def test_rejects_a_declared_length_that_overruns_with_a_valid_crc_after_it() -> None:
    # 59 claims 30 characters; the parse walks into the CRC object and past the end.
    assert code_of(with_crc("0002010102115930Warung")) is Code.LENGTH_INVALID


def test_rejects_a_bad_length_inside_a_template_naming_the_template() -> None:
    with pytest.raises(QrError) as caught:
        decode(payload_from({"26": "0013ID.KOPNET.WWW0199x"}))
    assert caught.value.code is Code.LENGTH_INVALID
    assert caught.value.field == "26.01"


def test_rejects_a_duplicate_tag() -> None:
    body = "000201010211" + "2605" + "0001x" + "5204581252045812"
    assert code_of(with_crc(body)) is Code.TAG_DUPLICATE


def test_rejects_a_duplicate_sub_tag_inside_a_template() -> None:
    assert code_of(payload_from({"26": "0001x0001y"})) is Code.TAG_DUPLICATE


def test_rejects_a_payload_without_a_crc_object() -> None:
    body = "".join(f"{tag}{len(value):02d}{value}" for tag, value in BASE_OBJECTS.items())
    assert code_of(body) is Code.CRC_MISSING


def test_rejects_a_crc_object_that_is_not_last() -> None:
    payload = payload_from()
    assert code_of(payload + "9901x") is Code.CRC_MISSING


def test_rejects_a_crc_of_the_wrong_length() -> None:
    assert code_of(payload_from()[:-8] + "6303ABC") is Code.CRC_MISSING


def test_rejects_an_empty_payload_as_missing_its_crc() -> None:
    assert code_of("") is Code.CRC_MISSING


def test_rejects_a_wrong_crc() -> None:
    payload = payload_from()
    wrong = f"{(int(payload[-4:], 16) + 1) % 0x10000:04X}"
    assert code_of(payload[:-4] + wrong) is Code.CRC_MISMATCH


def test_rejects_a_non_hex_crc() -> None:
    assert code_of(payload_from()[:-4] + "XXXX") is Code.CRC_MISMATCH


def test_rejects_a_payload_without_format_indicator() -> None:
    assert code_of(payload_from({"00": None})) is Code.MANDATORY_TAG_MISSING


def test_rejects_a_payload_without_any_merchant_account_tag() -> None:
    assert code_of(payload_from({"26": None, "51": None})) is Code.MANDATORY_TAG_MISSING


def test_accepts_a_primitive_merchant_account_tag_alone() -> None:
    decoded = decode(payload_from({"26": None, "51": None, "15": "2031041800520446"}))
    assert decoded.get("15") == "2031041800520446"


def test_rejects_a_format_indicator_other_than_01() -> None:
    assert code_of(payload_from({"00": "02"})) is Code.FORMAT_INDICATOR_INVALID


def test_rejects_a_format_indicator_that_is_not_first() -> None:
    body = "010211000201" + "2605" + "0001x"
    assert code_of(with_crc(body)) is Code.FORMAT_INDICATOR_INVALID


def test_structure_is_checked_before_the_crc() -> None:
    assert code_of("000201AA02xx6304FFFF") is Code.TAG_INVALID


def test_the_crc_is_checked_before_template_contents() -> None:
    payload = payload_from({"26": "0001x0001y"})
    assert code_of(payload[:-4] + "0000") is Code.CRC_MISMATCH


def test_template_contents_are_checked_before_mandatory_tags() -> None:
    assert code_of(payload_from({"00": None, "26": "0001x0001y"})) is Code.TAG_DUPLICATE


def test_mandatory_tags_are_checked_before_the_format_indicator_value() -> None:
    assert code_of(payload_from({"00": "02", "26": None, "51": None})) is (
        Code.MANDATORY_TAG_MISSING
    )
