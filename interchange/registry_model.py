"""The registry's pure core: who takes part in the network, and the rules their data obeys.

Participants are cooperatives (one of them, `is_network`, is the network operator), their
members (people, identified by a NIK, the 16-digit national identity number) and their
merchants. This module holds the values (`*Spec` for requests, views for what is stored),
the KYC tiers and their published limits, and the validation that every request passes
before anything is written. Pure: no database, no clock, no randomness.

Invariants of a validated spec: every string is within its length limit; free text (names,
cities) is non-empty, has no surrounding whitespace and no control character (Unicode
category Cc) or lone surrogate (Cs), and is otherwise stored exactly as given, markup and
spreadsheet formulas included (escaping belongs to the output, see `safe_text`);
identifiers are ASCII; a phone number is in the normal form `+628...`.

Validation raises the first violation, checking fields in declaration order:
- `CoopSpec`: code, legal_name, registration_no, settlement_bank_code,
  settlement_account_no, settlement_account_name, net_debit_cap_minor, currency;
- `MemberSpec`: member_no, name, phone, nik, kyc_tier;
- `MerchantSpec`: merchant_no, name, city, postal_code, mcc, criteria.
A coop id is not validated here: the shell answers `coop_not_found` for any that is absent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from interchange.criteria import MerchantCriteria
from interchange.errors import InterchangeError
from ledger.money import AMOUNT_MINOR_MAX

__all__ = [
    "COOP_ID_DIGITS",
    "MAIN_WALLET_LABEL",
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
    "RegistryError",
    "RegistryErrorCode",
    "TierLimits",
    "coop_account_ref",
    "mask_name",
    "member_wallet_ref",
    "merchant_wallet_ref",
    "network_merchant_id",
    "network_share_ref",
    "normalise_phone",
    "parse_status",
    "tier_limits",
    "validate_coop_spec",
    "validate_member_spec",
    "validate_merchant_spec",
    "validate_nik",
    "validate_wallet_label",
]

E = TypeVar("E", bound=StrEnum)

MAIN_WALLET_LABEL = "main"
# The coop id is zero-padded to this many digits inside a network merchant id.
COOP_ID_DIGITS = 6
_COOP_ID_MAX = 10**COOP_ID_DIGITS - 1

_COOP_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,15}")
_REGISTRATION_NO_RE = re.compile(r"[!-~](?:[ -~]{0,62}[!-~])?")
_BANK_CODE_RE = re.compile(r"[A-Z0-9]{3,11}")
_ACCOUNT_NO_RE = re.compile(r"[A-Z0-9]{4,34}")
# Member numbers go into ledger refs, whose separator is ":".
_MEMBER_NO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,31}")
# Merchant numbers go into the 20-character network merchant id after "KN" and 6 digits.
_MERCHANT_NO_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,11}")
_WALLET_LABEL_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_NIK_RE = re.compile(r"[0-9]{16}")
_PHONE_RAW_CHARS_MAX = 32
_PHONE_SEPARATORS = str.maketrans("", "", " -.")
# The national number (after +62 or the trunk 0) of a mobile phone starts with 8.
_PHONE_NATIONAL_RE = re.compile(r"8[0-9]{8,12}")
_POSTAL_CODE_RE = re.compile(r"[0-9]{5}")
_MCC_RE = re.compile(r"[0-9]{4}")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})

LEGAL_NAME_CHARS_MAX = 200
PERSON_NAME_CHARS_MAX = 100
MERCHANT_NAME_CHARS_MAX = 25
CITY_CHARS_MAX = 15


class RegistryErrorCode(StrEnum):
    """Stable codes of registry failures, grouped as the checks run. Never renamed."""

    # Shape of a request (pure validation), in field order; `name_invalid` is shared by
    # every name field and `field` says which.
    COOP_CODE_INVALID = "coop_code_invalid"
    NAME_INVALID = "name_invalid"
    REGISTRATION_NO_INVALID = "registration_no_invalid"
    SETTLEMENT_BANK_CODE_INVALID = "settlement_bank_code_invalid"
    SETTLEMENT_ACCOUNT_NO_INVALID = "settlement_account_no_invalid"
    CAP_INVALID = "cap_invalid"
    CURRENCY_UNSUPPORTED = "currency_unsupported"
    MEMBER_NO_INVALID = "member_no_invalid"
    PHONE_INVALID = "phone_invalid"
    NIK_INVALID = "nik_invalid"
    KYC_TIER_INVALID = "kyc_tier_invalid"
    MERCHANT_NO_INVALID = "merchant_no_invalid"
    CITY_INVALID = "city_invalid"
    POSTAL_CODE_INVALID = "postal_code_invalid"
    MCC_INVALID = "mcc_invalid"
    CRITERIA_INVALID = "criteria_invalid"
    WALLET_LABEL_INVALID = "wallet_label_invalid"
    STATUS_INVALID = "status_invalid"
    # What the request refers to.
    COOP_NOT_FOUND = "coop_not_found"
    NETWORK_NOT_REGISTERED = "network_not_registered"
    MEMBER_NOT_FOUND = "member_not_found"
    MERCHANT_NOT_FOUND = "merchant_not_found"
    COOP_NOT_ACTIVE = "coop_not_active"
    MEMBER_NOT_ACTIVE = "member_not_active"
    # Idempotency and uniqueness.
    COOP_EXISTS_WITH_DIFFERENT_SPEC = "coop_exists_with_different_spec"
    COOP_REGISTRATION_NO_TAKEN = "coop_registration_no_taken"
    NETWORK_COOP_EXISTS = "network_coop_exists"
    MEMBER_EXISTS_WITH_DIFFERENT_SPEC = "member_exists_with_different_spec"
    NIK_ALREADY_REGISTERED = "nik_already_registered"
    MERCHANT_EXISTS_WITH_DIFFERENT_SPEC = "merchant_exists_with_different_spec"
    # Status changes.
    STATUS_TRANSITION_INVALID = "status_transition_invalid"
    WALLET_NOT_EMPTY = "wallet_not_empty"
    COOP_NOT_EMPTY = "coop_not_empty"
    COOP_HAS_OPEN_POSITION = "coop_has_open_position"


class RegistryError(InterchangeError):
    """A registry failure the caller caused; `code` is a `RegistryErrorCode`."""


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


# Validation


# A rule is a pattern an identifier must match, or the length limit of a free-text field.
_Rule = tuple[str, re.Pattern[str] | int, RegistryErrorCode]

_COOP_RULES: tuple[_Rule, ...] = (
    ("code", _COOP_CODE_RE, RegistryErrorCode.COOP_CODE_INVALID),
    ("legal_name", LEGAL_NAME_CHARS_MAX, RegistryErrorCode.NAME_INVALID),
    ("registration_no", _REGISTRATION_NO_RE, RegistryErrorCode.REGISTRATION_NO_INVALID),
    ("settlement_bank_code", _BANK_CODE_RE, RegistryErrorCode.SETTLEMENT_BANK_CODE_INVALID),
    ("settlement_account_no", _ACCOUNT_NO_RE, RegistryErrorCode.SETTLEMENT_ACCOUNT_NO_INVALID),
    ("settlement_account_name", PERSON_NAME_CHARS_MAX, RegistryErrorCode.NAME_INVALID),
)
_MEMBER_RULES: tuple[_Rule, ...] = (
    ("member_no", _MEMBER_NO_RE, RegistryErrorCode.MEMBER_NO_INVALID),
    ("name", PERSON_NAME_CHARS_MAX, RegistryErrorCode.NAME_INVALID),
)
_MERCHANT_RULES: tuple[_Rule, ...] = (
    ("merchant_no", _MERCHANT_NO_RE, RegistryErrorCode.MERCHANT_NO_INVALID),
    ("name", MERCHANT_NAME_CHARS_MAX, RegistryErrorCode.NAME_INVALID),
    ("city", CITY_CHARS_MAX, RegistryErrorCode.CITY_INVALID),
    ("postal_code", _POSTAL_CODE_RE, RegistryErrorCode.POSTAL_CODE_INVALID),
    ("mcc", _MCC_RE, RegistryErrorCode.MCC_INVALID),
)


def validate_coop_spec(spec: CoopSpec) -> CoopSpec:
    """Return `spec` if valid; raise the first violation, in field order."""
    _check_rules(spec, _COOP_RULES)
    cap = spec.net_debit_cap_minor
    if type(cap) is not int or not 0 <= cap <= AMOUNT_MINOR_MAX:
        message = f"the net debit cap must be an integer in 0..{AMOUNT_MINOR_MAX}"
        raise RegistryError(RegistryErrorCode.CAP_INVALID, message, field="net_debit_cap_minor")
    assert type(spec.is_network) is bool, "is_network must be a bool"
    if spec.is_network and cap != 0:
        # The network's due accounts are the other side of everyone's: nothing to cap.
        message = "the network operator has no net debit cap: it must be 0"
        raise RegistryError(RegistryErrorCode.CAP_INVALID, message, field="net_debit_cap_minor")
    if spec.currency != "IDR":
        # Tier limits and the QR codes are rupiah; another currency needs its own limits.
        code = RegistryErrorCode.CURRENCY_UNSUPPORTED
        raise RegistryError(code, "only IDR is supported", field="currency")
    return spec


def validate_member_spec(spec: MemberSpec) -> MemberSpec:
    """Return `spec` with its phone normalised and tier coerced; raise the first violation."""
    assert type(spec.coop_id) is int, "coop_id must be an int"
    _check_rules(spec, _MEMBER_RULES)
    phone = normalise_phone(spec.phone)
    validate_nik(spec.nik)
    tier = _coerce(KycTier, spec.kyc_tier, RegistryErrorCode.KYC_TIER_INVALID, "kyc_tier")
    return replace(spec, phone=phone, kyc_tier=tier)


def validate_merchant_spec(spec: MerchantSpec) -> MerchantSpec:
    """Return `spec` with its criteria coerced; raise the first violation, in field order."""
    assert type(spec.coop_id) is int, "coop_id must be an int"
    _check_rules(spec, _MERCHANT_RULES)
    code = RegistryErrorCode.CRITERIA_INVALID
    return replace(spec, criteria=_coerce(MerchantCriteria, spec.criteria, code, "criteria"))


def _check_rules(spec: object, rules: tuple[_Rule, ...]) -> None:
    for name, rule, code in rules:
        value = getattr(spec, name)
        if isinstance(rule, int):
            _require_text(value, rule, code, name)
        else:
            _require(rule, value, code, name)


def validate_nik(nik: str) -> str:
    """Return `nik` if it is exactly 16 ASCII digits; raise `nik_invalid` otherwise."""
    _require(_NIK_RE, nik, RegistryErrorCode.NIK_INVALID, "nik")
    return nik


def normalise_phone(phone: str) -> str:
    """Return an Indonesian mobile number as `+62` plus its national number.

    Accepted: `+62...` or `08...`, with optional spaces, hyphens or dots between digits. The
    national number (what follows +62, or the 0 of 08) starts with 8 and has 9 to 13
    digits, so "0812-3456-7890" and "+62 812 3456 7890" both give "+6281234567890".
    """
    if not isinstance(phone, str) or len(phone) > _PHONE_RAW_CHARS_MAX:
        raise _phone_invalid()
    compact = phone.translate(_PHONE_SEPARATORS)
    if compact.startswith("+62"):
        national = compact[3:]
    elif compact.startswith("08"):
        national = compact[1:]
    else:
        raise _phone_invalid()
    if _PHONE_NATIONAL_RE.fullmatch(national) is None:
        raise _phone_invalid()
    return f"+62{national}"


def validate_wallet_label(label: str) -> str:
    """Return `label` if it is 1-32 of a-z, 0-9, _ and - (first a letter or digit)."""
    _require(_WALLET_LABEL_RE, label, RegistryErrorCode.WALLET_LABEL_INVALID, "label")
    return label


def parse_status(status: str) -> ParticipantStatus:
    """Return the participant status named by `status`; raise `status_invalid` otherwise."""
    return _coerce(ParticipantStatus, status, RegistryErrorCode.STATUS_INVALID, "status")


def _phone_invalid() -> RegistryError:
    message = "expected an Indonesian mobile number: +628... or 08..."
    return RegistryError(RegistryErrorCode.PHONE_INVALID, message, field="phone")


def _require(pattern: re.Pattern[str], value: object, code: RegistryErrorCode, name: str) -> None:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise RegistryError(code, f"{name} is not valid", field=name)


def _require_text(value: object, chars_max: int, code: RegistryErrorCode, name: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= chars_max:
        raise RegistryError(code, f"{name} must have 1-{chars_max} characters", field=name)
    if value.strip() != value:
        raise RegistryError(code, f"{name} has surrounding whitespace", field=name)
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in value):
        raise RegistryError(code, f"{name} holds a control character", field=name)


def _coerce(enum: type[E], value: object, code: RegistryErrorCode, name: str) -> E:
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and value in {member.value for member in enum}:
        return enum(value)
    raise RegistryError(code, f"{name} must be one of {[m.value for m in enum]}", field=name)


# Derived identifiers and views


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


def network_merchant_id(coop_id: int, merchant_no: str) -> str:
    """Return the merchant's id in QR codes: "KN", the coop id in 6 digits, the merchant no.

    Coop 12's merchant "TOKO-7" is "KN000012TOKO-7". The coop part has a fixed width, so
    distinct (coop, merchant_no) pairs give distinct ids; the result has at most 20
    characters and is an ASCII QR identifier.
    """
    assert 1 <= coop_id <= _COOP_ID_MAX, "coop ids above 999999 do not fit a merchant id"
    assert _MERCHANT_NO_RE.fullmatch(merchant_no), "merchant_no must be validated first"
    result = f"KN{coop_id:0{COOP_ID_DIGITS}d}{merchant_no}"
    assert len(result) <= 20
    return result


def coop_account_ref(code: str, purpose: str) -> str:
    """Ledger ref of a coop account: `coop:{code}:{purpose}` (cash, fee or due)."""
    assert purpose in ("cash", "fee", "due")
    return f"coop:{code}:{purpose}"


def network_share_ref(code: str, purpose: str) -> str:
    """Ledger ref of the network's account for coop `code`'s payments (fee or due)."""
    assert purpose in ("fee", "due")
    return f"network:{code}:{purpose}"


def member_wallet_ref(coop_id: int, member_no: str, member_id: int | None, label: str) -> str:
    """Ledger ref of a member wallet.

    The main wallet is `member:{coop_id}:{member_no}:main` (opened before the member row
    exists, so it cannot use the member id); other wallets are `wallet:{member_id}:{label}`,
    which always fits the ledger's 64 characters.
    """
    if label == MAIN_WALLET_LABEL:
        return f"member:{coop_id}:{member_no}:{MAIN_WALLET_LABEL}"
    assert member_id is not None, "extra wallets are opened for an existing member"
    return f"wallet:{member_id}:{label}"


def merchant_wallet_ref(coop_id: int, merchant_no: str) -> str:
    """Ledger ref of a merchant's wallet: `merchant:{coop_id}:{merchant_no}`."""
    return f"merchant:{coop_id}:{merchant_no}"
