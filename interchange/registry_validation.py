"""Validation of registry requests: the checks every spec passes before anything is written.

Pure: no database, no clock, no randomness.

Invariants of a validated spec: every string is within its length limit; free text (names,
cities) is non-empty, has no surrounding whitespace and no control character (Unicode
category Cc) or lone surrogate (Cs), and is otherwise stored exactly as given, markup and
spreadsheet formulas included (escaping belongs to the output, see `safe_text`);
identifiers are ASCII; a phone number is in the normal form `+628...`.

Validation raises the first violation, checking fields in declaration order:
- `CoopSpec`: code, legal_name, registration_no, settlement_bank_code,
  settlement_account_no, settlement_account_name, net_debit_cap_minor, is_network
  (then the network's cap), currency;
- `MemberSpec`: member_no, name, phone, nik, kyc_tier;
- `MerchantSpec`: merchant_no, name, city, postal_code, mcc, criteria.
A coop id is not validated here: the shell answers `coop_not_found` for any that is absent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from enum import StrEnum
from typing import TypeVar

from interchange.criteria import MerchantCriteria
from interchange.enum_text import enum_member
from interchange.registry_errors import RegistryError, RegistryErrorCode
from interchange.registry_model import (
    CoopSpec,
    KycTier,
    MemberSpec,
    MerchantSpec,
    ParticipantStatus,
)
from ledger.money import AMOUNT_MINOR_MAX

__all__ = [
    "MERCHANT_NO_RE",
    "normalise_phone",
    "parse_status",
    "validate_coop_spec",
    "validate_member_spec",
    "validate_merchant_spec",
    "validate_nik",
    "validate_wallet_label",
]

E = TypeVar("E", bound=StrEnum)

_COOP_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,15}")
_REGISTRATION_NO_RE = re.compile(r"[!-~](?:[ -~]{0,62}[!-~])?")
_BANK_CODE_RE = re.compile(r"[A-Z0-9]{3,11}")
_ACCOUNT_NO_RE = re.compile(r"[A-Z0-9]{4,34}")
# Member numbers go into ledger refs, whose separator is ":".
_MEMBER_NO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,31}")
# Merchant numbers go into the 20-character network merchant id after "KN" and 6 digits.
MERCHANT_NO_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,11}")
_WALLET_LABEL_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_NIK_RE = re.compile(r"[0-9]{16}")
_PHONE_RAW_CHARS_MAX = 32
_PHONE_SEPARATORS = str.maketrans("", "", " -.")
# The national number (after +62 or the trunk 0) of a mobile phone starts with 8.
_PHONE_NATIONAL_RE = re.compile(r"8[0-9]{8,12}")
_POSTAL_CODE_RE = re.compile(r"[0-9]{5}")
_MCC_RE = re.compile(r"[0-9]{4}")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})
# Embeddings, overrides and isolates reorder the text after them wherever it is shown: in
# an export's line they could turn a name into a mirror of the amounts beside it.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# A name needs one character of these classes (letters, numbers, punctuation, symbols):
# one of only format characters or marks (a zero-width space) shows as nothing.
_VISIBLE_CLASSES = ("L", "N", "P", "S")

LEGAL_NAME_CHARS_MAX = 200
PERSON_NAME_CHARS_MAX = 100
MERCHANT_NAME_CHARS_MAX = 25
CITY_CHARS_MAX = 15


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
    ("merchant_no", MERCHANT_NO_RE, RegistryErrorCode.MERCHANT_NO_INVALID),
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
    if type(spec.is_network) is not bool:
        code = RegistryErrorCode.IS_NETWORK_INVALID
        raise RegistryError(code, "is_network must be true or false", field="is_network")
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
    _check_rules(spec, _MEMBER_RULES)
    phone = normalise_phone(spec.phone)
    validate_nik(spec.nik)
    tier = _coerce(KycTier, spec.kyc_tier, RegistryErrorCode.KYC_TIER_INVALID, "kyc_tier")
    return replace(spec, phone=phone, kyc_tier=tier)


def validate_merchant_spec(spec: MerchantSpec) -> MerchantSpec:
    """Return `spec` with its criteria coerced; raise the first violation, in field order."""
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
    if not _BIDI_CONTROLS.isdisjoint(value):
        raise RegistryError(code, f"{name} holds a bidirectional control character", field=name)
    if not any(unicodedata.category(char).startswith(_VISIBLE_CLASSES) for char in value):
        raise RegistryError(code, f"{name} has no visible character", field=name)


def _coerce(enum: type[E], value: object, code: RegistryErrorCode, name: str) -> E:
    member = enum_member(enum, value)
    if member is None:
        raise RegistryError(code, f"{name} must be one of {[m.value for m in enum]}", field=name)
    return member
