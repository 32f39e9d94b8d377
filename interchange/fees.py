"""Fee arithmetic: what a payment costs, who bears it, and how the fee is shared.

Pure integer arithmetic on `Money` (no floats, no `Decimal`, no I/O, no clock). Rules and
schedules live in `interchange.fee_schedule` and are re-exported here.

Rounding: the proportional part is amount × bps / 10000 rounded half up to a whole minor
unit, computed as `(amount_minor × bps + 5000) // 10000`. The fee is that plus the fixed
part, then clamped to [min_minor, max_minor] (each bound only if set), then, when the
merchant bears it, capped at the amount itself so a merchant never receives a negative
amount. The amount cap wins over `min_minor`.

Split remainder (largest remainder): each share starts as floor(fee × bps / 10000); the
0..2 minor units left over go one each to the shares with the largest remainders
(fee × bps mod 10000), ties broken network, then acquirer, then issuer. The shares add up
exactly to the fee, each is within one minor unit of its exact value, and a 0-bps share
is always zero.

Quote invariant: `payer_pays == payee_receives + fee`, exactly, and shares sum to `fee`.
"""

from __future__ import annotations

from dataclasses import dataclass

from interchange.fee_schedule import (
    BPS_WHOLE,
    FEE_MINOR_MAX,
    RULES_MAX,
    FeeBearer,
    FeeError,
    FeeErrorCode,
    FeeRule,
    FeeRuleKey,
    FeeSchedule,
    FeeSplit,
    MerchantCriteria,
    PaymentType,
    schedule_in_force,
    select_rule,
)
from ledger.money import AMOUNT_MINOR_MAX, Money

__all__ = [
    "BPS_WHOLE",
    "FEE_MINOR_MAX",
    "RULES_MAX",
    "Fee",
    "FeeBearer",
    "FeeError",
    "FeeErrorCode",
    "FeeRule",
    "FeeRuleKey",
    "FeeSchedule",
    "FeeShares",
    "FeeSplit",
    "MerchantCriteria",
    "PaymentType",
    "Quote",
    "compute_fee",
    "deducted",
    "quote",
    "schedule_in_force",
    "select_rule",
    "split_fee",
]


@dataclass(frozen=True, slots=True)
class Fee:
    """A computed fee (never negative) and who bears it."""

    amount: Money
    bearer: FeeBearer

    def __post_init__(self) -> None:
        assert self.amount.amount_minor >= 0, "a fee is never negative"


@dataclass(frozen=True, slots=True)
class FeeShares:
    """A fee shared between issuer, acquirer and network; the three add up to the fee."""

    issuer: Money
    acquirer: Money
    network: Money

    def total(self) -> Money:
        """Return issuer + acquirer + network: exactly the fee that was split."""
        return self.issuer + self.acquirer + self.network


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """What one payment costs each side. `payer_pays == payee_receives + fee`, exactly."""

    amount: Money
    fee: Money
    bearer: FeeBearer
    shares: FeeShares
    payer_pays: Money
    payee_receives: Money
    schedule_version: int

    def __post_init__(self) -> None:
        assert self.payer_pays == self.payee_receives + self.fee, "quote does not balance"
        assert self.shares.total() == self.fee, "shares do not add up to the fee"

    @property
    def merchant_receives(self) -> Money:
        """What the merchant (payee) receives; the same as `payee_receives`."""
        return self.payee_receives


def _money(amount_minor: int, currency: str) -> Money:
    """Return `Money`, raising `fee_amount_too_large` instead of the ledger's own error."""
    if abs(amount_minor) > AMOUNT_MINOR_MAX:
        raise FeeError(
            FeeErrorCode.FEE_AMOUNT_TOO_LARGE,
            f"{amount_minor} minor units exceeds {AMOUNT_MINOR_MAX}",
            field="amount",
        )
    return Money(amount_minor, currency)


def _require_positive(amount: Money) -> None:
    """Raise `fee_amount_not_positive` unless the amount is above zero."""
    if not amount.is_positive():
        raise FeeError(
            FeeErrorCode.FEE_AMOUNT_NOT_POSITIVE, "amount must be positive", field="amount"
        )


def _proportional_minor(amount_minor: int, bps: int) -> int:
    """Return amount × bps / 10000 rounded half up, for non-negative integers."""
    assert amount_minor >= 0, "amounts here are positive"
    assert 0 <= bps <= BPS_WHOLE, "a rule's bps is validated on construction"
    return (amount_minor * bps + BPS_WHOLE // 2) // BPS_WHOLE


def compute_fee(amount: Money, rule: FeeRule) -> Fee:
    """Return the fee `rule` charges on `amount`, rounded and bounded as the module says.

    Checks, in order: `fee_amount_not_positive`, `fee_currency_mismatch` (the amount must be
    in the rule's currency), `fee_amount_too_large`. The result is within
    [min_minor, max_minor], except that a merchant-borne fee never exceeds the amount.
    """
    _require_positive(amount)
    if amount.currency != rule.currency:
        raise FeeError(
            FeeErrorCode.FEE_CURRENCY_MISMATCH,
            f"amount is in {amount.currency}, the rule in {rule.currency}",
            field="currency",
        )
    fee_minor = _proportional_minor(amount.amount_minor, rule.bps) + rule.fixed_minor
    if rule.min_minor is not None:
        fee_minor = max(fee_minor, rule.min_minor)
    if rule.max_minor is not None:
        fee_minor = min(fee_minor, rule.max_minor)
    if rule.bearer is FeeBearer.MERCHANT:
        fee_minor = min(fee_minor, amount.amount_minor)
    assert fee_minor >= 0, "a fee is never negative"
    return Fee(_money(fee_minor, amount.currency), rule.bearer)


def split_fee(fee: Money, split: FeeSplit) -> FeeShares:
    """Share `fee` by `split` so the three parts add up exactly to `fee`.

    Largest remainder: floors first, then the leftover units to the largest remainders,
    ties broken network > acquirer > issuer. Raises `fee_amount_negative` for a negative fee;
    a zero fee gives three zero shares.
    """
    if fee.amount_minor < 0:
        raise FeeError(FeeErrorCode.FEE_AMOUNT_NEGATIVE, "fee must not be negative", field="fee")
    # Listed in tie-break order, so the index is the tie-breaker.
    shares_bps = (split.network_bps, split.acquirer_bps, split.issuer_bps)
    parts = [fee.amount_minor * bps // BPS_WHOLE for bps in shares_bps]
    remainders = [fee.amount_minor * bps % BPS_WHOLE for bps in shares_bps]
    leftover = fee.amount_minor - sum(parts)
    assert 0 <= leftover < len(parts), "floors undershoot by less than one unit each"
    ranked = sorted(range(len(parts)), key=lambda index: (-remainders[index], index))
    for index in ranked[:leftover]:
        parts[index] += 1
    network, acquirer, issuer = (Money(part, fee.currency) for part in parts)
    shares = FeeShares(issuer=issuer, acquirer=acquirer, network=network)
    assert shares.total() == fee, "shares must add up exactly to the fee"
    return shares


def _sides(amount: Money, fee: Fee) -> tuple[Money, Money]:
    """Return (payer_pays, payee_receives): the bearer's side carries the fee."""
    if fee.bearer is FeeBearer.PAYER:
        return _money(amount.amount_minor + fee.amount.amount_minor, amount.currency), amount
    assert fee.amount <= amount, "a merchant-borne fee is capped at the amount"
    return amount, amount - fee.amount


def quote(
    amount: Money,
    payment_type: PaymentType,
    schedule: FeeSchedule,
    issuer_coop_id: int,
    acquirer_coop_id: int,
    merchant_criteria: MerchantCriteria | None = None,
) -> Quote:
    """Quote a payment of `amount` under `schedule`: fee, shares and what each side sees.

    Checks, in order: `fee_amount_not_positive`, `fee_coop_id_invalid`, `fee_rule_missing`
    (see `select_rule` for precedence), `fee_currency_mismatch`, `fee_amount_too_large`.
    A payer-borne fee is added to what the payer pays; a merchant-borne fee is deducted from
    what the payee receives. Either way `payer_pays == payee_receives + fee`.
    """
    _require_positive(amount)
    rule = select_rule(schedule, payment_type, issuer_coop_id, acquirer_coop_id, merchant_criteria)
    fee = compute_fee(amount, rule)
    shares = split_fee(fee.amount, rule.split)
    payer_pays, payee_receives = _sides(amount, fee)
    return Quote(
        amount=amount,
        fee=fee.amount,
        bearer=fee.bearer,
        shares=shares,
        payer_pays=payer_pays,
        payee_receives=payee_receives,
        schedule_version=schedule.version,
    )


def deducted(priced: Quote) -> Quote:
    """The same fee taken out of the amount instead: what a cash-in costs.

    A member hands over `amount` at the counter and the wallet receives `amount - fee`,
    whoever the schedule names as bearer; the shares are unchanged.
    """
    return Quote(
        amount=priced.amount,
        fee=priced.fee,
        bearer=priced.bearer,
        shares=priced.shares,
        payer_pays=priced.amount,
        payee_receives=priced.amount - priced.fee,
        schedule_version=priced.schedule_version,
    )
