"""The values routing works with: the parties of a batch, a parsed command, a plan.

Pure, immutable values; `RoutingContext` is everything the shell loaded for one batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from interchange.fee_schedule import FeeSchedule
from interchange.fees import Quote
from interchange.movement import (
    CoopAccounts,
    ObligationDelta,
)
from interchange.payment_model import (
    PaymentCommand,
    PaymentKind,
    PaymentRecord,
    PaymentStatus,
)
from interchange.qr.kopnet import KopnetPaymentRequest
from ledger.entry import EntryRequest
from ledger.money import Money

__all__ = [
    "CoopParty",
    "DailyRelease",
    "MemberParty",
    "MerchantParty",
    "ParsedCommand",
    "PaymentDraft",
    "PaymentPlan",
    "RoutingContext",
]


@dataclass(frozen=True, slots=True)
class MemberParty:
    """What routing needs to know of a member."""

    member_id: int
    coop_id: int
    active: bool
    kyc_tier: str
    wallet_account_id: int


@dataclass(frozen=True, slots=True)
class MerchantParty:
    """What routing needs to know of a merchant."""

    merchant_id: int
    coop_id: int
    active: bool
    network_merchant_id: str
    criteria: str
    wallet_account_id: int


@dataclass(frozen=True, slots=True)
class CoopParty:
    """What routing needs to know of a participant: its net debit cap bounds what its
    payments may take its due account to (None: no cap, the network operator's)."""

    accounts: CoopAccounts
    active: bool
    currency: str
    net_debit_cap_minor: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingContext:
    """Everything loaded for a batch of commands.

    `now` is the batch's moment (the database clock as it joined its window);
    `merchant_criteria` is keyed by merchant id for the merchants of the authorizations named;
    `hold_expires_at` and `payer_member_ids` (the member whose wallet an authorization
    holds from) are keyed by authorization payment id.
    """

    coops: Mapping[int, CoopParty]
    network: CoopParty
    members: Mapping[int, MemberParty]
    merchants: Mapping[str, MerchantParty]
    payments: Mapping[str, PaymentRecord]
    schedules: Sequence[FeeSchedule]
    business_date: date
    now: datetime
    merchant_criteria: Mapping[int, str]
    hold_expires_at: Mapping[str, datetime]
    payer_member_ids: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command whose shape is valid, with its QR decoded and its canonical request."""

    command: PaymentCommand
    qr: KopnetPaymentRequest | None
    request_json: str


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    """The payment row to write if the ledger accepts the entries."""

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


@dataclass(frozen=True, slots=True)
class DailyRelease:
    """Daily allowance given back: `amount_minor` off the member's total of `business_date`,
    the day an authorization counted against, when it resolves taking less than it held."""

    member_id: int
    business_date: date
    amount_minor: int

    def __post_init__(self) -> None:
        assert self.amount_minor > 0, "a release gives something back"


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    """One command's decision: the row, the ledger entries, and their side effects."""

    payment_id: str
    draft: PaymentDraft
    request_json: str
    entries: tuple[EntryRequest, ...]
    obligations: tuple[ObligationDelta, ...] = ()
    daily_member_id: int | None = None
    daily_minor: int = 0
    refund_of: str | None = None
    resolves: str | None = None
    resolution: PaymentStatus | None = None
    released: DailyRelease | None = None
    notes: Mapping[str, str] = field(default_factory=dict)
    # The fee quote the payment charges, for a payment that moves new money (a purchase,
    # an authorization, a cash-in or cash-out, a transfer): what `Payments.quote_command`
    # shows the payer.
    quote: Quote | None = None
