"""Builders for QR test payloads and specs, readable by hand.

`payload_from` turns a tag → value mapping into a payload with a correct CRC, so a test can
break exactly one rule and nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interchange.qr.crc import crc_hex
from interchange.qr.fees import FeeRule, TipIndicator
from interchange.qr.spec import MerchantCriteria, MerchantQrSpec
from interchange.qr.tlv import serialize
from ledger.money import Money

# The `shared` folder is a sibling of the repository root; the test data is not ours to copy.
TESTDATA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata"
VECTORS_PATH = TESTDATA_DIR / "emvco_qr_vectors.json"

KOPNET_ACCOUNT = serialize(
    (("00", "ID.KOPNET.WWW"), ("01", "936000990000001234"), ("02", "M-77"), ("03", "UMI"))
)
QRIS_NATIONAL = serialize((("00", "ID.CO.QRIS.WWW"), ("02", "ID1021081861606"), ("03", "UMI")))

# A clean static kopnet/QRIS code, tag by tag.
BASE_OBJECTS: dict[str, str] = {
    "00": "01",
    "01": "11",
    "26": KOPNET_ACCOUNT,
    "51": QRIS_NATIONAL,
    "52": "5812",
    "53": "360",
    "58": "ID",
    "59": "Warung Bu Sri",
    "60": "Sleman",
    "61": "55281",
}


def with_crc(body: str) -> str:
    """Append "6304" and the correct CRC to `body`."""
    prefix = body + "6304"
    return prefix + crc_hex(prefix)


def payload_from(changes: dict[str, str | None] | None = None, *, ordered: bool = True) -> str:
    """Return BASE_OBJECTS with `changes` applied (None deletes a tag), CRC appended."""
    objects: dict[str, str | None] = {**BASE_OBJECTS, **(changes or {})}
    items = [(tag, value) for tag, value in objects.items() if value is not None]
    if ordered:
        items.sort()
    return with_crc(serialize(items))


def load_vectors() -> list[dict[str, Any]]:
    """Load the shared EMVCo vectors; fail loudly (never skip) when they are missing."""
    assert VECTORS_PATH.is_file(), f"shared test data missing: {VECTORS_PATH}"
    vectors: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return vectors


def a_spec(**overrides: Any) -> MerchantQrSpec:
    """Return a valid static spec with `overrides` applied."""
    fields: dict[str, Any] = {
        "merchant_network_id": "936000990000001234",
        "merchant_name": "Warung Bu Sri",
        "merchant_city": "Sleman",
        "mcc": "5812",
        "criteria": MerchantCriteria.UMI,
        "merchant_id": "M-77",
        "national_merchant_id": "ID1021081861606",
        "postal_code": "55281",
    }
    fields.update(overrides)
    return MerchantQrSpec(**fields)


def idr(major: str) -> Money:
    """Return rupiah from a major-unit string."""
    return Money.parse(major, "IDR")


def fixed_fee(major: str) -> FeeRule:
    """Return a fixed convenience fee in rupiah."""
    return FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr(major))
