"""Reading a kopnet payment request out of a decoded QR payload.

A payload is kopnet's when one of its merchant account templates (26–50) has sub-tag 00
equal to "ID.KOPNET.WWW" (compared case-insensitively, as reverse domain names are).
Invariants of a `KopnetPaymentRequest`: a dynamic request carries a positive amount in the
payload's currency and a static one carries none; a fee rule's fixed fee is in the same
currency. Display fields (name, city) are passed through as scanned, since the payer only
shows them; everything that moves money is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from interchange.qr.amount import currency_alpha, parse_amount
from interchange.qr.decode import DecodedQr
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.fees import FeeRule, parse_fee_rule
from interchange.qr.fields import is_dynamic
from interchange.qr.spec import (
    KOPNET_GLOBAL_ID,
    MerchantCriteria,
    parse_criteria,
    require_network_id,
)
from ledger.money import Money

__all__ = ["KOPNET_MANDATORY_TAGS", "KopnetPaymentRequest", "extract_payment_request"]

KOPNET_MANDATORY_TAGS = ("52", "53", "58", "59", "60")
_ACCOUNT_TAGS = tuple(f"{number:02d}" for number in range(26, 51))


@dataclass(frozen=True, slots=True)
class KopnetPaymentRequest:
    """What the payer's app needs to pay a kopnet merchant from one scanned code."""

    merchant_network_id: str
    merchant_id: str | None
    criteria: MerchantCriteria | None
    merchant_name: str
    merchant_city: str
    mcc: str
    currency: str
    is_dynamic: bool
    amount: Money | None
    fee_rule: FeeRule | None
    bill_number: str | None
    reference_label: str | None
    terminal_label: str | None

    def __post_init__(self) -> None:
        assert self.is_dynamic == (self.amount is not None)
        assert self.amount is None or self.amount.currency == self.currency


def extract_payment_request(decoded: DecodedQr) -> KopnetPaymentRequest:
    """Return the kopnet payment request in `decoded`; raise `QrError` on the first failure.

    Order: `qr_not_kopnet`; `qr_mandatory_tag_missing` (52, 53, 58, 59, 60); the account's
    network id (`qr_merchant_network_id_invalid`), merchant id and criteria; point of
    initiation; currency (`qr_currency_unsupported`); amount (`qr_amount_invalid`,
    `qr_amount_missing`, `qr_amount_unexpected`); then the tip or fee (55/56/57).
    """
    account = _kopnet_account_tag(decoded)
    values = _mandatory_values(decoded)
    network_id, merchant_id, criteria = _account(decoded, account)
    dynamic = is_dynamic(decoded.get("01"))
    currency = currency_alpha(values["53"])
    return KopnetPaymentRequest(
        merchant_network_id=network_id,
        merchant_id=merchant_id,
        criteria=criteria,
        merchant_name=values["59"],
        merchant_city=values["60"],
        mcc=values["52"],
        currency=currency,
        is_dynamic=dynamic,
        amount=_amount(decoded.get("54"), dynamic, currency),
        fee_rule=_fee_rule(decoded, currency),
        bill_number=decoded.get("62.01"),
        reference_label=decoded.get("62.05"),
        terminal_label=decoded.get("62.07"),
    )


def _kopnet_account_tag(decoded: DecodedQr) -> str:
    for tag in _ACCOUNT_TAGS:
        global_id = decoded.get(f"{tag}.00")
        # ASCII case only: `str.upper` also maps look-alikes ("ı" to "I") onto kopnet's id.
        if global_id is not None and global_id.isascii() and global_id.upper() == KOPNET_GLOBAL_ID:
            return tag
    raise QrError(QrErrorCode.NOT_KOPNET, "no merchant account template is kopnet's")


def _mandatory_values(decoded: DecodedQr) -> dict[str, str]:
    values: dict[str, str] = {}
    for tag in KOPNET_MANDATORY_TAGS:
        value = decoded.get(tag)
        if value is None:
            raise QrError(QrErrorCode.MANDATORY_TAG_MISSING, f"tag {tag} missing", field=tag)
        values[tag] = value
    return values


def _account(decoded: DecodedQr, tag: str) -> tuple[str, str | None, MerchantCriteria | None]:
    network_id = decoded.get(f"{tag}.01") or ""
    code = QrErrorCode.MERCHANT_NETWORK_ID_INVALID
    require_network_id(network_id, code=code, field=f"{tag}.01")
    merchant_id = decoded.get(f"{tag}.02")
    if merchant_id is not None:
        code = QrErrorCode.MERCHANT_ID_INVALID
        require_network_id(merchant_id, code=code, field=f"{tag}.02")
    criteria = decoded.get(f"{tag}.03")
    parsed = None if criteria is None else parse_criteria(criteria, field=f"{tag}.03")
    return network_id, merchant_id, parsed


def _amount(text: str | None, dynamic: bool, currency: str) -> Money | None:
    if text is None:
        if dynamic:
            raise QrError(QrErrorCode.AMOUNT_MISSING, "a dynamic code has no amount", field="54")
        return None
    amount = parse_amount(text, currency)
    if not dynamic:
        raise QrError(QrErrorCode.AMOUNT_UNEXPECTED, "a static code has an amount", field="54")
    return amount


def _fee_rule(decoded: DecodedQr, currency: str) -> FeeRule | None:
    return parse_fee_rule(decoded.get("55"), decoded.get("56"), decoded.get("57"), currency)
