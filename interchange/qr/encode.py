"""Encoding a kopnet merchant code: a validated spec in, an EMVCo/QRIS payload out.

Invariants: objects come in ascending tag order, every value fits 99 characters, the payload
ends with a CRC computed over its UTF-8 bytes, and the whole stays within EMVCo's 512
characters. The spec's own limits guarantee all of this (template 26 is at most 96
characters, 62 at most 87, the payload well under 512), so a breach is a programmer error.
"""

from __future__ import annotations

from interchange.qr.amount import currency_numeric, format_amount
from interchange.qr.crc import crc_hex
from interchange.qr.decode import PAYLOAD_CHARS_MAX
from interchange.qr.fees import fee_objects
from interchange.qr.spec import (
    COUNTRY_CODE,
    KOPNET_ACCOUNT_TAG,
    KOPNET_GLOBAL_ID,
    QRIS_GLOBAL_ID,
    MerchantQrSpec,
    additional_data_objects,
)
from interchange.qr.tlv import serialize

__all__ = ["encode_merchant_qr"]

_STATIC = "11"
_DYNAMIC = "12"


def encode_merchant_qr(spec: MerchantQrSpec) -> str:
    """Return the payload for `spec`: dynamic (12) with its amount, else static (11)."""
    body = serialize(_objects(spec)) + "6304"
    payload = body + crc_hex(body)
    assert len(payload) <= PAYLOAD_CHARS_MAX, len(payload)
    assert payload.startswith("000201")
    return payload


def _objects(spec: MerchantQrSpec) -> list[tuple[str, str]]:
    objects = [
        ("00", "01"),
        ("01", _DYNAMIC if spec.is_dynamic else _STATIC),
        (KOPNET_ACCOUNT_TAG, serialize(_merchant_account(spec))),
    ]
    if spec.national_merchant_id is not None:
        national = (("00", QRIS_GLOBAL_ID), ("02", spec.national_merchant_id))
        objects.append(("51", serialize((*national, ("03", spec.criteria.value)))))
    objects += [("52", spec.mcc), ("53", currency_numeric(spec.currency))]
    if spec.amount is not None:
        objects.append(("54", format_amount(spec.amount)))
    if spec.fee_rule is not None:
        objects += fee_objects(spec.fee_rule)
    objects += [("58", COUNTRY_CODE), ("59", spec.merchant_name), ("60", spec.merchant_city)]
    if spec.postal_code is not None:
        objects.append(("61", spec.postal_code))
    additional = additional_data_objects(spec)
    if additional:
        objects.append(("62", serialize(additional)))
    return objects


def _merchant_account(spec: MerchantQrSpec) -> list[tuple[str, str]]:
    account = [("00", KOPNET_GLOBAL_ID), ("01", spec.merchant_network_id)]
    if spec.merchant_id is not None:
        account.append(("02", spec.merchant_id))
    account.append(("03", spec.criteria.value))
    return account
