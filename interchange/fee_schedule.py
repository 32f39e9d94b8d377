"""Fee schedules: versioned, immutable sets of fee rules, and how one rule is chosen.

A `FeeRule` says what the network charges on one kind of payment: basis points of the
amount plus a fixed part, clamped to optional bounds, borne by the merchant (payee) or the
payer, and shared between issuer, acquirer and network by a `FeeSplit`. A `FeeSchedule`
keys rules by payment type, an optional issuer/acquirer coop pair and optional QRIS
merchant criteria, and carries a version and the business date it takes effect.

Invariants, checked when each value is built (so an invalid value cannot exist):
- a `FeeSplit` has three shares of 0..10000 bps that sum to exactly 10000;
- a `FeeRule` names a known currency; its bps is in 0..10000; its fixed part and bounds are
  non-negative minor units of that currency, at most `FEE_MINOR_MAX`, and min <= max;
- a `FeeRuleKey` names both coops of a pair or neither, and coop ids are positive;
- a `FeeSchedule` has version >= 1, between 1 and `RULES_MAX` rules, and no rule that makes
  the payer bear the fee of a `qr_purchase`: QRIS forbids surcharging the payer for the
  merchant discount (`fee_surcharge_forbidden`).

Refunds are not a payment type here: a refund is never charged, so it is never quoted.

Checks run in the order `FeeErrorCode` lists them, so the first failure is deterministic.
Pure: no I/O, no clock; business dates are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from interchange.criteria import MerchantCriteria
from interchange.enum_text import enum_member
from interchange.errors import InterchangeError
from ledger.currency import CURRENCY_EXPONENTS
from ledger.money import AMOUNT_MINOR_MAX
from ledger.row_id import ROW_ID_MAX

__all__ = [
    "BPS_WHOLE",
    "COOP_ID_MAX",
    "FEE_MINOR_MAX",
    "RULES_MAX",
    "FeeBearer",
    "FeeError",
    "FeeErrorCode",
    "FeeRule",
    "FeeRuleKey",
    "FeeSchedule",
    "FeeSplit",
    "MerchantCriteria",
    "PaymentType",
    "schedule_in_force",
    "select_rule",
]

# 10000 basis points make the whole amount.
BPS_WHOLE = 10_000
# A fixed fee or bound above the largest amount the ledger holds cannot be meant.
FEE_MINOR_MAX = AMOUNT_MINOR_MAX
# Pairs times criteria times payment types stays far below this in any real network.
RULES_MAX = 100_000
# Coop ids are database row ids.
COOP_ID_MAX = ROW_ID_MAX
_E = TypeVar("_E", bound=StrEnum)


class FeeErrorCode(StrEnum):
    """Stable codes of fee failures, in the order the checks run. Never renamed."""

    # What a quote is asked for (`Payments.quote` checks these first, in this order).
    FEE_AMOUNT_INVALID = "fee_amount_invalid"
    FEE_PAYMENT_TYPE_INVALID = "fee_payment_type_invalid"
    FEE_CRITERIA_INVALID = "fee_criteria_invalid"
    FEE_BUSINESS_DATE_INVALID = "fee_business_date_invalid"
    # Building a split, a rule, a key or a schedule.
    FEE_SPLIT_INVALID = "fee_split_invalid"
    FEE_CURRENCY_UNKNOWN = "fee_currency_unknown"
    FEE_BPS_INVALID = "fee_bps_invalid"
    FEE_FIXED_INVALID = "fee_fixed_invalid"
    FEE_BOUNDS_INVALID = "fee_bounds_invalid"
    FEE_COOP_ID_INVALID = "fee_coop_id_invalid"
    FEE_RULE_KEY_INVALID = "fee_rule_key_invalid"
    FEE_SCHEDULE_INVALID = "fee_schedule_invalid"
    FEE_SURCHARGE_FORBIDDEN = "fee_surcharge_forbidden"
    # A rule's bearer that is neither a `FeeBearer` nor its text.
    FEE_BEARER_INVALID = "fee_bearer_invalid"
    # Choosing the schedule in force.
    FEE_SCHEDULE_VERSION_DUPLICATE = "fee_schedule_version_duplicate"
    FEE_SCHEDULE_VERSION_STALE = "fee_schedule_version_stale"
    FEE_SCHEDULE_MISSING = "fee_schedule_missing"
    # Publishing a version (`interchange.fee_publishing`, after the stale check above).
    FEE_SCHEDULE_VERSION_EXISTS = "fee_schedule_version_exists"
    FEE_COOP_NOT_FOUND = "fee_coop_not_found"
    # Quoting or splitting an amount.
    FEE_AMOUNT_NOT_POSITIVE = "fee_amount_not_positive"
    FEE_AMOUNT_NEGATIVE = "fee_amount_negative"
    FEE_RULE_MISSING = "fee_rule_missing"
    FEE_CURRENCY_MISMATCH = "fee_currency_mismatch"
    FEE_AMOUNT_TOO_LARGE = "fee_amount_too_large"


class FeeError(InterchangeError):
    """A fee failure the caller caused; `code` is a `FeeErrorCode`."""


class PaymentType(StrEnum):
    """Payments the network charges for. Refunds are absent on purpose: never charged."""

    QR_PURCHASE = "qr_purchase"
    CASH_IN = "cash_in"
    CASH_OUT = "cash_out"
    TRANSFER = "transfer"


class FeeBearer(StrEnum):
    """Who pays the fee.

    `merchant`: a merchant discount, deducted from what the merchant (payee) receives.
    `payer`: a surcharge, added to what the payer pays.
    """

    MERCHANT = "merchant"
    PAYER = "payer"


def _require_int(value: object, low: int, high: int, code: FeeErrorCode, name: str) -> None:
    """Raise `code` unless `value` is an int (not a bool) within [low, high]."""
    if type(value) is not int or not low <= value <= high:
        raise FeeError(code, f"{name} must be an integer in {low}..{high}", field=name)


@dataclass(frozen=True, slots=True)
class FeeSplit:
    """How a fee is shared: three basis-point shares that sum to exactly 10000."""

    issuer_bps: int
    acquirer_bps: int
    network_bps: int

    def __post_init__(self) -> None:
        code = FeeErrorCode.FEE_SPLIT_INVALID
        _require_int(self.issuer_bps, 0, BPS_WHOLE, code, "issuer_bps")
        _require_int(self.acquirer_bps, 0, BPS_WHOLE, code, "acquirer_bps")
        _require_int(self.network_bps, 0, BPS_WHOLE, code, "network_bps")
        if self.issuer_bps + self.acquirer_bps + self.network_bps != BPS_WHOLE:
            raise FeeError(code, f"split shares must sum to {BPS_WHOLE} bps", field="split")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeRule:
    """bps of the amount plus `fixed_minor`, clamped to [min_minor, max_minor] if given.

    Fixed part and bounds are minor units of `currency`; a rule applies only to amounts in
    that currency.
    """

    currency: str
    bps: int
    fixed_minor: int
    bearer: FeeBearer
    split: FeeSplit
    min_minor: int | None = None
    max_minor: int | None = None

    def __post_init__(self) -> None:
        bearer = _member(FeeBearer, self.bearer, FeeErrorCode.FEE_BEARER_INVALID, "bearer")
        object.__setattr__(self, "bearer", bearer)
        if not isinstance(self.split, FeeSplit):
            raise FeeError(
                FeeErrorCode.FEE_SPLIT_INVALID, "split must be a FeeSplit", field="split"
            )
        if self.currency not in CURRENCY_EXPONENTS:
            raise FeeError(FeeErrorCode.FEE_CURRENCY_UNKNOWN, "unknown currency", field="currency")
        _require_int(self.bps, 0, BPS_WHOLE, FeeErrorCode.FEE_BPS_INVALID, "bps")
        fixed_code = FeeErrorCode.FEE_FIXED_INVALID
        _require_int(self.fixed_minor, 0, FEE_MINOR_MAX, fixed_code, "fixed_minor")
        bounds_code = FeeErrorCode.FEE_BOUNDS_INVALID
        if self.min_minor is not None:
            _require_int(self.min_minor, 0, FEE_MINOR_MAX, bounds_code, "min_minor")
        if self.max_minor is not None:
            _require_int(self.max_minor, 0, FEE_MINOR_MAX, bounds_code, "max_minor")
            if self.min_minor is not None and self.min_minor > self.max_minor:
                raise FeeError(bounds_code, "min_minor exceeds max_minor", field="min_minor")


def _member(enum: type[_E], value: object, code: FeeErrorCode, name: str) -> _E:
    """`value` as a member of `enum` (its text is accepted too, as a quote accepts it);
    otherwise `code`, naming `name`."""
    member = enum_member(enum, value)
    if member is None:
        names = ", ".join(m.value for m in enum)
        raise FeeError(code, f"{name} must be one of {names}", field=name)
    return member


def _require_coop_id(value: int | None, name: str) -> None:
    """Raise `fee_coop_id_invalid` unless `value` is None or a positive coop id."""
    if value is not None:
        _require_int(value, 1, COOP_ID_MAX, FeeErrorCode.FEE_COOP_ID_INVALID, name)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeRuleKey:
    """Where a rule applies: a payment type, optionally a coop pair and merchant criteria.

    A pair is the issuer (payer's coop) and the acquirer (payee's coop): both or neither.
    """

    payment_type: PaymentType
    issuer_coop_id: int | None = None
    acquirer_coop_id: int | None = None
    merchant_criteria: MerchantCriteria | None = None

    def __post_init__(self) -> None:
        payment_type = _member(
            PaymentType, self.payment_type, FeeErrorCode.FEE_PAYMENT_TYPE_INVALID, "payment_type"
        )
        object.__setattr__(self, "payment_type", payment_type)
        if self.merchant_criteria is not None:
            criteria = _member(
                MerchantCriteria,
                self.merchant_criteria,
                FeeErrorCode.FEE_CRITERIA_INVALID,
                "merchant_criteria",
            )
            object.__setattr__(self, "merchant_criteria", criteria)
        _require_coop_id(self.issuer_coop_id, "issuer_coop_id")
        _require_coop_id(self.acquirer_coop_id, "acquirer_coop_id")
        if (self.issuer_coop_id is None) != (self.acquirer_coop_id is None):
            raise FeeError(
                FeeErrorCode.FEE_RULE_KEY_INVALID,
                "a rule names both the issuer and the acquirer coop, or neither",
                field="issuer_coop_id",
            )


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A versioned, immutable set of rules in force from `effective_from_date` on.

    Checks, in order: version, effective date, rule count, then each rule in the mapping's
    order (surcharge on `qr_purchase` refused). `rules` is stored as a read-only copy.
    """

    version: int
    effective_from_date: date
    rules: Mapping[FeeRuleKey, FeeRule] = field(hash=False)

    def __post_init__(self) -> None:
        code = FeeErrorCode.FEE_SCHEDULE_INVALID
        _require_int(self.version, 1, 2**31 - 1, code, "version")
        # A datetime is a date too, but comparing one with a business date raises TypeError.
        if type(self.effective_from_date) is not date:
            raise FeeError(code, "effective_from_date must be a date", field="effective_from_date")
        if not isinstance(self.rules, Mapping):
            raise FeeError(code, "rules map FeeRuleKeys to FeeRules", field="rules")
        if not 1 <= len(self.rules) <= RULES_MAX:
            raise FeeError(code, f"a schedule has 1..{RULES_MAX} rules", field="rules")
        for key, rule in self.rules.items():
            if not isinstance(key, FeeRuleKey) or not isinstance(rule, FeeRule):
                raise FeeError(code, "rules map FeeRuleKeys to FeeRules", field="rules")
            if key.payment_type is PaymentType.QR_PURCHASE and rule.bearer is FeeBearer.PAYER:
                raise FeeError(
                    FeeErrorCode.FEE_SURCHARGE_FORBIDDEN,
                    "QRIS forbids surcharging the payer on a QR purchase",
                    field="bearer",
                )
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))


def _candidate_keys(
    payment_type: PaymentType,
    issuer_coop_id: int,
    acquirer_coop_id: int,
    merchant_criteria: MerchantCriteria | None,
) -> tuple[FeeRuleKey, ...]:
    """Return the keys to try, most specific first: pair+criteria, pair, criteria, default."""
    pair_key = FeeRuleKey(
        payment_type=payment_type, issuer_coop_id=issuer_coop_id, acquirer_coop_id=acquirer_coop_id
    )
    default_key = FeeRuleKey(payment_type=payment_type)
    if merchant_criteria is None:
        return (pair_key, default_key)
    return (
        FeeRuleKey(
            payment_type=payment_type,
            issuer_coop_id=issuer_coop_id,
            acquirer_coop_id=acquirer_coop_id,
            merchant_criteria=merchant_criteria,
        ),
        pair_key,
        FeeRuleKey(payment_type=payment_type, merchant_criteria=merchant_criteria),
        default_key,
    )


def select_rule(
    schedule: FeeSchedule,
    payment_type: PaymentType,
    issuer_coop_id: int,
    acquirer_coop_id: int,
    merchant_criteria: MerchantCriteria | None = None,
) -> FeeRule:
    """Return the most specific rule of `schedule` that applies to this payment.

    Precedence: (pair + criteria) > (pair) > (criteria) > (payment-type default). Each level
    is one exact key lookup, and a mapping holds each key once, so two rules can never tie.
    Without merchant criteria only the pair and default levels are tried. Raises
    `fee_coop_id_invalid` for a non-positive coop id, then `fee_rule_missing` if no level
    matches.
    """
    _require_coop_id(issuer_coop_id, "issuer_coop_id")
    _require_coop_id(acquirer_coop_id, "acquirer_coop_id")
    for key in _candidate_keys(payment_type, issuer_coop_id, acquirer_coop_id, merchant_criteria):
        rule = schedule.rules.get(key)
        if rule is not None:
            return rule
    raise FeeError(
        FeeErrorCode.FEE_RULE_MISSING,
        f"schedule v{schedule.version} has no rule for {payment_type.value}",
        field="payment_type",
    )


def schedule_in_force(schedules: Iterable[FeeSchedule], business_date: date) -> FeeSchedule:
    """Return the schedule in force on `business_date`.

    That is the one with the latest `effective_from_date` on or before the date; if several
    share that date, the highest version wins (a same-day correction). Raises
    `fee_schedule_version_duplicate` if two schedules share a version number (checked over
    the whole collection first), then `fee_schedule_missing` if none is in force yet.
    """
    assert type(business_date) is date, "business_date must be a date, not a datetime"
    collected = tuple(schedules)
    versions = [schedule.version for schedule in collected]
    if len(set(versions)) != len(versions):
        raise FeeError(
            FeeErrorCode.FEE_SCHEDULE_VERSION_DUPLICATE,
            "two fee schedules share a version number",
            field="version",
        )
    in_force = [s for s in collected if s.effective_from_date <= business_date]
    if not in_force:
        raise FeeError(
            FeeErrorCode.FEE_SCHEDULE_MISSING,
            f"no fee schedule is in force on {business_date.isoformat()}",
            field="business_date",
        )
    return max(in_force, key=lambda s: (s.effective_from_date, s.version))
