"""The EMVCo QR checksum: CRC-16/CCITT-FALSE over the UTF-8 bytes of a payload prefix.

Invariants: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR; the check
value of b"123456789" is 0x29B1. The prefix covered is everything up to and including the
"6304" that opens the CRC object, and the CRC is written as four upper-case hex digits.
"""

from __future__ import annotations

__all__ = ["CRC_POLYNOMIAL", "crc16_ccitt_false", "crc_hex"]

CRC_POLYNOMIAL = 0x1021
_CRC_INITIAL = 0xFFFF
_CRC_MASK = 0xFFFF


def crc16_ccitt_false(data: bytes) -> int:
    """Return the CRC-16/CCITT-FALSE of `data` as an integer in [0, 0xFFFF]."""
    crc = _CRC_INITIAL
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1) ^ CRC_POLYNOMIAL if crc & 0x8000 else crc << 1
            crc &= _CRC_MASK
    assert 0 <= crc <= _CRC_MASK
    return crc


def crc_hex(prefix: str) -> str:
    """Return the CRC of `prefix`'s UTF-8 bytes as four upper-case hex digits."""
    assert prefix.endswith("6304"), "the CRC covers the payload up to and including 6304"
    return f"{crc16_ccitt_false(prefix.encode('utf-8')):04X}"
