"""The EMVCo QR checksum: CRC-16/CCITT-FALSE over the UTF-8 bytes of a payload prefix.

Invariants: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR; the check
value of b"123456789" is 0x29B1. The prefix covered is everything up to and including the
"6304" that opens the CRC object, and the CRC is written as four upper-case hex digits.
"""

from __future__ import annotations

import binascii

__all__ = ["crc16_ccitt_false", "crc_hex"]

_CRC_INITIAL = 0xFFFF
_CRC_MASK = 0xFFFF


def crc16_ccitt_false(data: bytes) -> int:
    """Return the CRC-16/CCITT-FALSE of `data` as an integer in [0, 0xFFFF].

    `binascii.crc_hqx` is exactly this CRC (polynomial 0x1021, MSB first, no reflection, no
    final XOR) in C; the initial value 0xFFFF makes it the CCITT-FALSE variant. Every
    payment decodes a QR, so the checksum is on the payment path.
    """
    crc = binascii.crc_hqx(data, _CRC_INITIAL)
    assert 0 <= crc <= _CRC_MASK
    return crc


def crc_hex(prefix: str) -> str:
    """Return the CRC of `prefix`'s UTF-8 bytes as four upper-case hex digits."""
    assert prefix.endswith("6304"), "the CRC covers the payload up to and including 6304"
    return f"{crc16_ccitt_false(prefix.encode('utf-8')):04X}"
