"""EMVCo merchant-presented QR codes, QRIS compatible: decode, check, encode, extract.

A pure package: no I/O, no database, no clock, no randomness. `render` (segno images in
memory) and `cli` (the Typer shell) are the only modules that touch anything outside, and
neither is imported here. Lengths count characters; the CRC covers UTF-8 bytes.

- `decode(payload)` returns an immutable `DecodedQr` (`.get("26.01")`) or raises `QrError`.
- `check_qris(decoded)` returns every strict QRIS finding as a value (error or warning).
- `encode_merchant_qr(spec)` turns a validated `MerchantQrSpec` into a kopnet payload.
- `extract_payment_request(decoded)` reads a kopnet `KopnetPaymentRequest` or raises
  `qr_not_kopnet` for another network's code.
"""

from __future__ import annotations

from interchange.qr.amount import parse_amount
from interchange.qr.decode import DecodedQr, decode
from interchange.qr.encode import encode_merchant_qr
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.fees import FeeRule, TipIndicator
from interchange.qr.kopnet import KopnetPaymentRequest, extract_payment_request
from interchange.qr.qris import QrisFinding, Severity, check_qris
from interchange.qr.spec import KOPNET_GLOBAL_ID, MerchantCriteria, MerchantQrSpec
from interchange.qr.tlv import DataObject

__all__ = [
    "KOPNET_GLOBAL_ID",
    "DataObject",
    "DecodedQr",
    "FeeRule",
    "KopnetPaymentRequest",
    "MerchantCriteria",
    "MerchantQrSpec",
    "QrError",
    "QrErrorCode",
    "QrisFinding",
    "Severity",
    "TipIndicator",
    "check_qris",
    "decode",
    "encode_merchant_qr",
    "extract_payment_request",
    "parse_amount",
]
