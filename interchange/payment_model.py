"""Payment commands, their error codes, and the records the interchange keeps of them.

A command names what a member, merchant or teller wants; each carries a caller-chosen
`payment_id` that makes it idempotent (the ledger entry's id is derived from it). Amounts
are `Money`; the per-transaction maximum is Rp10.000.000 (QRIS's limit) for everything a
member pays or receives. Pure values; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from interchange.errors import InterchangeError
from ledger.money import Money

__all__ = [
    "AUTHORIZATION_TIMEOUT_S_MAX",
    "PAYMENT_ID_PATTERN",
    "TRANSACTION_MAX_MINOR",
    "Authorize",
    "Capture",
    "CashIn",
    "CashOut",
    "PaymentCommand",
    "PaymentError",
    "PaymentErrorCode",
    "PaymentKind",
    "PaymentOutcome",
    "PaymentRecord",
    "PaymentStatus",
    "QrPurchase",
    "Refund",
    "Transfer",
    "Void",
    "entry_id_for",
    "storable_payment_ids",
]

PAYMENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,55}$")


def storable_payment_ids(ids: Iterable[str]) -> set[str]:
    """The ids that can name a payment (`PAYMENT_ID_PATTERN`); any other names none, so a
    lookup skips it instead of sending it to the database, whose driver may not even be
    able to encode it (a NUL, a lone surrogate). A refund or void may name anything."""
    return {i for i in ids if type(i) is str and PAYMENT_ID_PATTERN.fullmatch(i)}


TRANSACTION_MAX_MINOR = 10_000_000 * 100
AUTHORIZATION_TIMEOUT_S_MAX = 7 * 24 * 3600


class PaymentKind(StrEnum):
    """What a payment record is."""

    QR_PURCHASE = "qr_purchase"
    CASH_IN = "cash_in"
    CASH_OUT = "cash_out"
    TRANSFER = "transfer"
    REFUND = "refund"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"


class PaymentStatus(StrEnum):
    """Completed payments stay completed; authorizations move on exactly once."""

    COMPLETED = "completed"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


class PaymentErrorCode(StrEnum):
    """Stable codes, in the order the checks run (see `interchange.routing`)."""

    # A batch as a whole, before any of its commands.
    BATCH_EMPTY = "batch_empty"
    BATCH_TOO_LARGE = "batch_too_large"
    # The window this process's calendar puts the batch in was closed by a process whose
    # cut-off or time zone differs: nothing can be recorded until the calendars agree.
    WINDOW_CLOSED = "window_closed"
    PAYMENT_NOT_QUOTABLE = "payment_not_quotable"
    PAYMENT_ID_INVALID = "payment_id_invalid"
    AMOUNT_INVALID = "amount_invalid"
    AMOUNT_OVER_LIMIT = "amount_over_limit"
    TIMEOUT_INVALID = "timeout_invalid"
    PAYMENT_EXISTS_WITH_DIFFERENT_REQUEST = "payment_exists_with_different_request"
    MEMBER_NOT_FOUND = "member_not_found"
    MEMBER_NOT_ACTIVE = "member_not_active"
    MERCHANT_NOT_FOUND = "merchant_not_found"
    MERCHANT_NOT_ACTIVE = "merchant_not_active"
    COOP_NOT_FOUND = "coop_not_found"
    COOP_NOT_ACTIVE = "coop_not_active"
    SAME_WALLET = "same_wallet"
    QR_AMOUNT_REQUIRED = "qr_amount_required"
    QR_AMOUNT_MISMATCH = "qr_amount_mismatch"
    TIP_NOT_ALLOWED = "tip_not_allowed"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    AMOUNT_BELOW_FEE = "amount_below_fee"
    ORIGINAL_NOT_FOUND = "original_not_found"
    ORIGINAL_NOT_REFUNDABLE = "original_not_refundable"
    REFUND_EXCEEDS_ORIGINAL = "refund_exceeds_original"
    AUTHORIZATION_NOT_FOUND = "authorization_not_found"
    AUTHORIZATION_NOT_OPEN = "authorization_not_open"
    AUTHORIZATION_EXPIRED = "authorization_expired"
    CAPTURE_EXCEEDS_AUTHORIZATION = "capture_exceeds_authorization"
    DAILY_LIMIT_EXCEEDED = "daily_limit_exceeded"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    NET_DEBIT_CAP_EXCEEDED = "net_debit_cap_exceeded"
    PAYEE_BALANCE_LIMIT_EXCEEDED = "payee_balance_limit_exceeded"
    ACCOUNT_FROZEN = "account_frozen"
    ACCOUNT_CLOSED = "account_closed"


class PaymentError(InterchangeError):
    """A payment the interchange refused; nothing was recorded."""


def entry_id_for(payment_id: str, suffix: str = "") -> str:
    """The ledger entry id of a payment (and of its helper entries, by suffix)."""
    return f"pay:{payment_id}{suffix}"


@dataclass(frozen=True, slots=True)
class QrPurchase:
    """A member pays a merchant by scanning its QR; `amount` for static codes only."""

    payment_id: str
    payer_member_id: int
    qr_payload: str
    amount: Money | None = None
    tip: Money | None = None


@dataclass(frozen=True, slots=True)
class Authorize:
    """A QR purchase the merchant confirms later: the funds are held for `timeout_s`."""

    payment_id: str
    payer_member_id: int
    qr_payload: str
    amount: Money | None = None
    tip: Money | None = None
    timeout_s: int = 900


@dataclass(frozen=True, slots=True)
class Capture:
    """The merchant confirms an authorization, in full (`amount=None`) or for less."""

    payment_id: str
    authorization_id: str
    amount: Money | None = None


@dataclass(frozen=True, slots=True)
class Void:
    """The merchant cancels an authorization; the held funds are released."""

    payment_id: str
    authorization_id: str


@dataclass(frozen=True, slots=True)
class CashIn:
    """A member hands cash to a teller of `counter_coop_id`; the fee is deducted."""

    payment_id: str
    member_id: int
    counter_coop_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class CashOut:
    """A member takes cash from a teller of `counter_coop_id`; the fee is added."""

    payment_id: str
    member_id: int
    counter_coop_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class Transfer:
    """A member sends money to another member, of any cooperative."""

    payment_id: str
    payer_member_id: int
    payee_member_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class Refund:
    """A merchant gives back part or all of a purchase; never more than it received."""

    payment_id: str
    original_payment_id: str
    amount: Money


PaymentCommand = QrPurchase | Authorize | Capture | Void | CashIn | CashOut | Transfer | Refund


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """A recorded payment, with the fee it carried and how the fee was split."""

    payment_id: str
    kind: PaymentKind
    status: PaymentStatus
    issuer_coop_id: int
    acquirer_coop_id: int
    payer_account_id: int
    payee_account_id: int
    merchant_id: int | None
    amount: Money
    extra: Money
    fee: Money
    fee_bearer: str
    issuer_fee: Money
    acquirer_fee: Money
    network_fee: Money
    schedule_version: int | None
    entry_id: str
    original_payment_id: str | None
    refunded: Money
    business_date: date
    window_date: date | None
    request_json: str
    created_at: datetime

    @property
    def is_off_us(self) -> bool:
        """True when two different cooperatives are involved."""
        return self.issuer_coop_id != self.acquirer_coop_id


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """What became of one command: recorded (`payment`), replayed, or refused (`code`)."""

    payment_id: str
    payment: PaymentRecord | None
    code: StrEnum | None = None
    message: str | None = None
    replayed: bool = False
    # The command's field a refusal is about, when it is about one.
    field: str | None = None

    @property
    def ok(self) -> bool:
        """True when the payment is recorded (now or by an earlier identical command)."""
        return self.code is None
