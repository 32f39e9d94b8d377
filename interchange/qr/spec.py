"""What a kopnet merchant QR code says, as one immutable, validated value.

Invariants of a constructed `MerchantQrSpec`: every field fits its EMVCo/QRIS limit (name at
most 25 characters, city 15, postal code 10, labels 25; identifiers ASCII), the currency has
an ISO 4217 numeric code, and the amount and fixed fee are positive and in that currency.
A spec with an amount encodes as a dynamic code (point of initiation 12), one without as
static (11). Fields are checked in declaration order, so the first failure is deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from interchange.criteria import MerchantCriteria
from interchange.qr.amount import AMOUNT_CHARS_MAX, currency_numeric
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.fees import FeeRule
from interchange.qr.fields import (
    require_city,
    require_mcc,
    require_name,
    require_postal_code,
    require_text,
)
from ledger.money import Money

__all__ = [
    "COUNTRY_CODE",
    "KOPNET_ACCOUNT_TAG",
    "KOPNET_GLOBAL_ID",
    "QRIS_GLOBAL_ID",
    "MerchantCriteria",
    "MerchantQrSpec",
    "additional_data_objects",
    "parse_criteria",
    "require_network_id",
]

KOPNET_GLOBAL_ID = "ID.KOPNET.WWW"
KOPNET_ACCOUNT_TAG = "26"
QRIS_GLOBAL_ID = "ID.CO.QRIS.WWW"
COUNTRY_CODE = "ID"
# Identifiers are ASCII so they survive every scanner; 32 keeps template 26 within 99.
_IDENTIFIER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_NATIONAL_ID_RE = re.compile(r"[A-Z0-9]{1,15}")


def parse_criteria(text: str, *, field: str = "26.03") -> MerchantCriteria:
    """Return the criteria named by `text`; raise `qr_criteria_invalid` otherwise."""
    if text not in set(MerchantCriteria):
        raise QrError(QrErrorCode.CRITERIA_INVALID, f"{text!r} is not a criteria", field=field)
    return MerchantCriteria(text)


def require_network_id(text: str, *, code: QrErrorCode, field: str) -> None:
    """Raise `code` unless `text` is an ASCII identifier of 1-32 characters."""
    if _IDENTIFIER_RE.fullmatch(text) is None:
        raise QrError(code, f"{field} is not an identifier: {text!r}", field=field)


@dataclass(frozen=True, slots=True)
class MerchantQrSpec:
    """Everything needed to encode one kopnet merchant code; `amount` makes it dynamic."""

    merchant_network_id: str
    merchant_name: str
    merchant_city: str
    mcc: str
    criteria: MerchantCriteria
    merchant_id: str | None = None
    national_merchant_id: str | None = None
    postal_code: str | None = None
    currency: str = "IDR"
    amount: Money | None = None
    fee_rule: FeeRule | None = None
    bill_number: str | None = None
    reference_label: str | None = None
    terminal_label: str | None = None

    def __post_init__(self) -> None:
        _check_identity(self)
        require_mcc(self.mcc)
        currency_numeric(self.currency)
        _check_money(self)
        require_name(self.merchant_name)
        require_city(self.merchant_city)
        if self.postal_code is not None:
            require_postal_code(self.postal_code)
        for sub_tag, label in additional_data_objects(self):
            require_text(label, field=f"62.{sub_tag}")

    @property
    def is_dynamic(self) -> bool:
        """True when the code carries an amount (point of initiation 12)."""
        return self.amount is not None


def _check_identity(spec: MerchantQrSpec) -> None:
    code = QrErrorCode.MERCHANT_NETWORK_ID_INVALID
    require_network_id(spec.merchant_network_id, code=code, field="26.01")
    if spec.merchant_id is not None:
        code = QrErrorCode.MERCHANT_ID_INVALID
        require_network_id(spec.merchant_id, code=code, field="26.02")
    if not isinstance(spec.criteria, MerchantCriteria):
        raise QrError(QrErrorCode.CRITERIA_INVALID, "criteria is not a MerchantCriteria")
    nmid = spec.national_merchant_id
    if nmid is not None and _NATIONAL_ID_RE.fullmatch(nmid) is None:
        raise QrError(QrErrorCode.NATIONAL_MERCHANT_ID_INVALID, f"{nmid!r}", field="51.02")


def _check_money(spec: MerchantQrSpec) -> None:
    amount = spec.amount
    if amount is not None and not _fits(amount, spec.currency):
        raise QrError(QrErrorCode.AMOUNT_INVALID, f"amount {amount} does not fit", field="54")
    fee = None if spec.fee_rule is None else spec.fee_rule.fixed_fee
    if fee is not None and not _fits(fee, spec.currency):
        raise QrError(QrErrorCode.TIP_VALUE_INVALID, f"fixed fee {fee} does not fit", field="56")


def _fits(money: Money, currency: str) -> bool:
    return (
        money.currency == currency
        and money.is_positive()
        and len(money.format()) <= AMOUNT_CHARS_MAX
    )


def additional_data_objects(spec: MerchantQrSpec) -> tuple[tuple[str, str], ...]:
    """Return the (sub-tag, value) pairs of template 62: bill 01, reference 05, terminal 07."""
    labels = (
        ("01", spec.bill_number),
        ("05", spec.reference_label),
        ("07", spec.terminal_label),
    )
    return tuple((sub_tag, label) for sub_tag, label in labels if label is not None)
