"""The registry's values: who takes part in the network, as requested and as stored.

Participants are cooperatives (one of them, `is_network`, is the network operator), their
members (people, identified by a NIK, the 16-digit national identity number) and their
merchants. This module holds the values (`*Spec` for requests, views for what is stored),
the KYC tiers and their published limits, and the masking of a member's name for other
cooperatives. Validation of the specs is `interchange.registry_validation`; identifiers
derived from them, `interchange.registry_refs`. Pure: no database, no clock, no randomness.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum

from interchange.criteria import MerchantCriteria

__all__ = [
    "Coop",
    "CoopSpec",
    "KycTier",
    "MaskedMember",
    "Member",
    "MemberSpec",
    "MemberWallet",
    "Merchant",
    "MerchantSpec",
    "ParticipantStatus",
    "TierLimits",
    "mask_name",
    "tier_limits",
]


class KycTier(StrEnum):
    """How well a member's identity is verified; it sets the member's wallet limits."""

    BASIC = "basic"
    VERIFIED = "verified"


class ParticipantStatus(StrEnum):
    """Active participants transact; suspended ones are frozen; closed is final."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class TierLimits:
    """Published limits of a KYC tier, in IDR minor units (sen)."""

    balance_max_minor: int
    daily_out_max_minor: int


# Rp2.000.000 for basic members, Rp20.000.000 for verified ones (exponent 2).
_TIER_LIMITS = {
    KycTier.BASIC: TierLimits(balance_max_minor=200_000_000, daily_out_max_minor=200_000_000),
    KycTier.VERIFIED: TierLimits(
        balance_max_minor=2_000_000_000, daily_out_max_minor=2_000_000_000
    ),
}


def tier_limits(tier: KycTier) -> TierLimits:
    """Return the published wallet-balance and daily-outgoing limits of `tier`."""
    return _TIER_LIMITS[KycTier(tier)]


@dataclass(frozen=True, slots=True)
class CoopSpec:
    """A request to register a cooperative; `code` is its idempotency key."""

    code: str
    legal_name: str
    registration_no: str
    settlement_bank_code: str
    settlement_account_no: str
    settlement_account_name: str
    net_debit_cap_minor: int
    is_network: bool = False
    currency: str = "IDR"


@dataclass(frozen=True, slots=True)
class Coop:
    """A registered cooperative with its three ledger accounts (cash, fee income, due), and
    the network's fee income and due accounts for its payments (for the network: its own)."""

    id: int
    code: str
    legal_name: str
    registration_no: str
    settlement_bank_code: str
    settlement_account_no: str
    settlement_account_name: str
    net_debit_cap_minor: int
    is_network: bool
    currency: str
    status: ParticipantStatus
    cash_account_id: int
    fee_account_id: int
    due_account_id: int
    network_fee_account_id: int
    network_due_account_id: int
    created_at: datetime

    @property
    def spec(self) -> CoopSpec:
        """The spec this coop was registered with, for comparing a replayed request."""
        return CoopSpec(**{f.name: getattr(self, f.name) for f in fields(CoopSpec)})


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """A request to register a member; (coop_id, member_no) is its idempotency key."""

    coop_id: int
    member_no: str
    name: str
    phone: str
    nik: str = field(repr=False)
    kyc_tier: KycTier = KycTier.BASIC


@dataclass(frozen=True, slots=True)
class Member:
    """A member as their own cooperative sees them; `nik` is None unless asked for."""

    id: int
    coop_id: int
    member_no: str
    name: str
    phone: str
    kyc_tier: KycTier
    status: ParticipantStatus
    wallet_account_id: int
    created_at: datetime
    nik: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class MaskedMember:
    """A member as another cooperative sees them: no phone, no NIK, a masked name."""

    id: int
    coop_id: int
    masked_name: str


@dataclass(frozen=True, slots=True)
class MemberWallet:
    """One of a member's wallets: a ledger account under a label unique to the member."""

    account_id: int
    member_id: int
    coop_id: int
    label: str


@dataclass(frozen=True, slots=True)
class MerchantSpec:
    """A request to register a merchant; (coop_id, merchant_no) is its idempotency key."""

    coop_id: int
    merchant_no: str
    name: str
    city: str
    postal_code: str
    mcc: str
    criteria: MerchantCriteria


@dataclass(frozen=True, slots=True)
class Merchant:
    """A registered merchant; `network_merchant_id` is what its QR codes carry."""

    id: int
    coop_id: int
    merchant_no: str
    network_merchant_id: str
    name: str
    city: str
    postal_code: str
    mcc: str
    criteria: MerchantCriteria
    status: ParticipantStatus
    wallet_account_id: int
    created_at: datetime

    @property
    def spec(self) -> MerchantSpec:
        """The spec this merchant was registered with, for comparing a replayed request."""
        return MerchantSpec(**{f.name: getattr(self, f.name) for f in fields(MerchantSpec)})


def mask_name(name: str) -> str:
    """Return `name` as another cooperative may see it.

    Rule: the name is NFC-normalised and split on whitespace; each word keeps its first and
    last character and every character between becomes "*"; a two-character word keeps
    its first; a one-character word stays. Words are joined by single spaces. So
    "Siti Aminah" becomes "S**i A****h" and "王小明" becomes "王*明".
    """
    words = unicodedata.normalize("NFC", name).split()
    assert words, "a registered name is never blank"
    return " ".join(_mask_word(word) for word in words)


def _mask_word(word: str) -> str:
    if len(word) <= 1:
        return word
    if len(word) == 2:
        return word[0] + "*"
    return word[0] + "*" * (len(word) - 2) + word[-1]
