"""CRC-16/CCITT-FALSE as EMVCo uses it."""

from __future__ import annotations

import binascii

from hypothesis import given
from hypothesis import strategies as st

from interchange.qr.crc import crc16_ccitt_false, crc_hex


def test_crc_of_the_standard_check_string_is_29b1() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc_of_nothing_is_the_initial_value() -> None:
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_crc_is_rendered_as_four_upper_case_hex_digits() -> None:
    rendered = crc_hex("00020101021126570011ID.DANA.WWW6304")
    assert len(rendered) == 4
    assert rendered == rendered.upper()
    int(rendered, 16)


def test_crc_runs_over_utf8_bytes_not_characters() -> None:
    # EMVCo Annex B: the language template holds Chinese; its CRC is A13A over UTF-8 bytes.
    prefix = (
        "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678"
        "520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京"
        "540523.7253031565502016233030412340603***0708A60086670902ME91320016A011223344998877"
        "0708123456786304"
    )
    assert crc_hex(prefix) == "A13A"


@given(st.binary(max_size=600))
def test_crc_agrees_with_the_standard_librarys_ccitt_with_initial_ffff(data: bytes) -> None:
    assert crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)
