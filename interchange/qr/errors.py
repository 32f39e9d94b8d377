"""Errors a caller of the QR package can cause, each with a stable machine code.

Codes are published: never rename one, only add. Programmer errors are `assert`s, not these.

Each pass runs its checks in a fixed order, so the first failure is deterministic; the codes
below are grouped by pass and listed in that order.

`decode` (interchange.qr.decode) raises the first of:
  1. `qr_payload_too_long`: more characters than any QR symbol can carry.
  2. `qr_characters_invalid`: a control character or a lone surrogate (no UTF-8 form).
  3. Top-level objects, left to right; within one object: `qr_tag_invalid` (tag not two
     ASCII digits), `qr_length_invalid` (length not two ASCII digits, "00", or running past
     the end), `qr_tag_duplicate`.
  4. `qr_crc_missing`: the last object is not a four-character tag 63.
  5. `qr_crc_mismatch`: the CRC is not hex or differs from the computed one.
  6. Templates' sub-objects, in template order, with the same three codes as step 3.
  7. `qr_mandatory_tag_missing`: tag 00, then at least one merchant account tag 02–51.
  8. `qr_format_indicator_invalid`: tag 00 is not first or is not "01".

`check_qris` (interchange.qr.qris) reports every finding, in the order of `QRIS_RULES`.
`MerchantQrSpec` (interchange.qr.spec) validates fields in declaration order.
`extract_payment_request` (interchange.qr.kopnet) raises `qr_not_kopnet` before anything
else, then checks fields in the order its docstring gives.
"""

from __future__ import annotations

from enum import StrEnum

from interchange.errors import InterchangeError

__all__ = ["QrError", "QrErrorCode"]


class QrErrorCode(StrEnum):
    """Stable result codes for QR decoding, checking, encoding and rendering."""

    # Envelope and structure (decode), in check order.
    PAYLOAD_TOO_LONG = "qr_payload_too_long"
    CHARACTERS_INVALID = "qr_characters_invalid"
    TAG_INVALID = "qr_tag_invalid"
    LENGTH_INVALID = "qr_length_invalid"
    TAG_DUPLICATE = "qr_tag_duplicate"
    CRC_MISSING = "qr_crc_missing"
    CRC_MISMATCH = "qr_crc_mismatch"
    MANDATORY_TAG_MISSING = "qr_mandatory_tag_missing"
    FORMAT_INDICATOR_INVALID = "qr_format_indicator_invalid"
    # Content (strict QRIS check, encode-side validation and kopnet extraction).
    POINT_OF_INITIATION_INVALID = "qr_point_of_initiation_invalid"
    QRIS_TEMPLATE_MISSING = "qr_qris_template_missing"
    MERCHANT_NETWORK_ID_INVALID = "qr_merchant_network_id_invalid"
    MERCHANT_ID_INVALID = "qr_merchant_id_invalid"
    NATIONAL_MERCHANT_ID_INVALID = "qr_national_merchant_id_invalid"
    CRITERIA_INVALID = "qr_criteria_invalid"
    MCC_INVALID = "qr_mcc_invalid"
    CURRENCY_INVALID = "qr_currency_invalid"
    CURRENCY_UNSUPPORTED = "qr_currency_unsupported"
    AMOUNT_INVALID = "qr_amount_invalid"
    AMOUNT_MISSING = "qr_amount_missing"
    AMOUNT_UNEXPECTED = "qr_amount_unexpected"
    TIP_INDICATOR_INVALID = "qr_tip_indicator_invalid"
    TIP_VALUE_INVALID = "qr_tip_value_invalid"
    COUNTRY_INVALID = "qr_country_invalid"
    NAME_TOO_LONG = "qr_name_too_long"
    CITY_TOO_LONG = "qr_city_too_long"
    POSTAL_CODE_INVALID = "qr_postal_code_invalid"
    VALUE_INVALID = "qr_value_invalid"
    # Kopnet extraction.
    NOT_KOPNET = "qr_not_kopnet"
    # Rendering.
    RENDER_FORMAT_INVALID = "qr_render_format_invalid"
    RENDER_TOO_LARGE = "qr_render_too_large"
    RENDER_OUTPUT_UNWRITABLE = "qr_render_output_unwritable"


class QrError(InterchangeError):
    """A QR payload or spec the caller supplied is unusable; `code` says why."""

    def __init__(self, code: QrErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(code, message, field=field)
        self.code: QrErrorCode = code
