"""Tip and convenience-fee rules (EMVCo tags 55, 56 and 57) as one immutable value.

Invariants: indicator 01 (payer enters a tip) carries no value; 02 (fixed fee) carries a
positive `fixed_fee` and nothing else; 03 (percentage fee) carries `percentage_bps` in
[1, 10000] and nothing else. The same rule holds in a payload: 56 appears only with 55=02,
57 only with 55=03.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from interchange.qr.amount import (
    PERCENTAGE_BPS_MAX,
    format_amount,
    format_percentage_bps,
    parse_amount,
    parse_percentage_bps,
    require_amount_text,
)
from interchange.qr.errors import QrError, QrErrorCode
from ledger.money import Money

__all__ = [
    "FeeRule",
    "TipIndicator",
    "fee_objects",
    "parse_fee_rule",
    "require_fee_shape",
    "require_fixed_fee_text",
]

_T = TypeVar("_T")


class TipIndicator(StrEnum):
    """EMVCo tag 55 values."""

    PAYER_ENTERS_TIP = "01"
    FIXED_FEE = "02"
    PERCENTAGE_FEE = "03"


@dataclass(frozen=True, slots=True)
class FeeRule:
    """What the payer adds on top of the amount: a tip they choose, or a merchant's fee."""

    indicator: TipIndicator
    fixed_fee: Money | None = None
    percentage_bps: int | None = None

    def __post_init__(self) -> None:
        fixed_ok = (self.fixed_fee is not None) == (self.indicator is TipIndicator.FIXED_FEE)
        bps = self.percentage_bps
        percent_ok = (bps is not None) == (self.indicator is TipIndicator.PERCENTAGE_FEE)
        if not (fixed_ok and percent_ok):
            raise QrError(
                QrErrorCode.TIP_VALUE_INVALID, f"fee values do not fit indicator {self.indicator}"
            )
        if self.fixed_fee is not None and not self.fixed_fee.is_positive():
            raise QrError(
                QrErrorCode.TIP_VALUE_INVALID, "a fixed fee must be above zero", field="56"
            )
        if bps is not None and (type(bps) is not int or not 0 < bps <= PERCENTAGE_BPS_MAX):
            raise QrError(QrErrorCode.TIP_VALUE_INVALID, "percentage out of range", field="57")


def fee_objects(rule: FeeRule) -> tuple[tuple[str, str], ...]:
    """Return the (tag, value) pairs 55 and, where the rule has one, 56 or 57."""
    if rule.fixed_fee is not None:
        return (("55", rule.indicator.value), ("56", format_amount(rule.fixed_fee)))
    if rule.percentage_bps is not None:
        return (("55", rule.indicator.value), ("57", format_percentage_bps(rule.percentage_bps)))
    return (("55", rule.indicator.value),)


def parse_fee_rule(
    indicator: str | None, fixed: str | None, percentage: str | None, currency: str
) -> FeeRule | None:
    """Build the rule from the raw values of 55, 56 and 57; None when none is present.

    Checks run in the order of `require_fee_shape`, then the value's format and currency.
    """
    kind = require_fee_shape(indicator, fixed, percentage)
    if kind is None:
        return None
    if fixed is not None:
        return FeeRule(kind, fixed_fee=_as_fee_error(lambda: parse_amount(fixed, currency)))
    if percentage is not None:
        return FeeRule(kind, percentage_bps=parse_percentage_bps(percentage))
    return FeeRule(kind)


def require_fixed_fee_text(text: str, *, decimals_max: int) -> None:
    """Raise `qr_tip_value_invalid` unless `text` is a well-formed fixed fee (tag 56)."""
    _as_fee_error(lambda: require_amount_text(text, decimals_max=decimals_max))


def _as_fee_error(parse: Callable[[], _T]) -> _T:
    # A fee is an amount, but a malformed one is the fee's fault, reported on tag 56.
    try:
        return parse()
    except QrError as exc:
        raise QrError(QrErrorCode.TIP_VALUE_INVALID, exc.message, field="56") from exc


def require_fee_shape(
    indicator: str | None, fixed: str | None, percentage: str | None
) -> TipIndicator | None:
    """Check which of 55, 56 and 57 are present; return the indicator, None without one.

    Order: 56/57 without 55 (`qr_tip_value_invalid`), 55's value (`qr_tip_indicator_invalid`),
    then 56 and 57 against the indicator (`qr_tip_value_invalid`).
    """
    if indicator is None:
        if fixed is not None or percentage is not None:
            raise QrError(QrErrorCode.TIP_VALUE_INVALID, "56 or 57 without 55", field="55")
        return None
    if indicator not in set(TipIndicator):
        raise QrError(
            QrErrorCode.TIP_INDICATOR_INVALID, f"55 is {indicator!r}, not 01/02/03", field="55"
        )
    kind = TipIndicator(indicator)
    if (fixed is not None) != (kind is TipIndicator.FIXED_FEE):
        raise QrError(
            QrErrorCode.TIP_VALUE_INVALID, "56 must be present exactly when 55=02", field="56"
        )
    if (percentage is not None) != (kind is TipIndicator.PERCENTAGE_FEE):
        raise QrError(
            QrErrorCode.TIP_VALUE_INVALID, "57 must be present exactly when 55=03", field="57"
        )
    return kind
