"""The network's launch tariff: fee schedule version 1, in force from 2026-01-01.

QR purchases carry a merchant discount (never a payer surcharge, as QRIS requires): 0.7%
in general and 0.3% for micro merchants (UMI), split 40% issuer / 40% acquirer / 20%
network. Cash-in costs the member Rp1.000 (deducted from the deposit), cash-out and
transfers Rp2.500 (added to what the member pays), split 50% issuer / 30% acquirer / 20%
network. Operators publish later versions with `kopnet fees publish`.
"""

from __future__ import annotations

from datetime import date

from interchange.fee_schedule import (
    FeeBearer,
    FeeRule,
    FeeRuleKey,
    FeeSchedule,
    FeeSplit,
    MerchantCriteria,
    PaymentType,
)

__all__ = ["launch_schedule"]


def launch_schedule(currency: str = "IDR") -> FeeSchedule:
    """Schedule version 1 as described in the module docstring."""
    purchase_split = FeeSplit(issuer_bps=4000, acquirer_bps=4000, network_bps=2000)
    service_split = FeeSplit(issuer_bps=5000, acquirer_bps=3000, network_bps=2000)

    def rule(bps: int, fixed_minor: int, bearer: FeeBearer, split: FeeSplit) -> FeeRule:
        return FeeRule(
            currency=currency, bps=bps, fixed_minor=fixed_minor, bearer=bearer, split=split
        )

    rules = {
        FeeRuleKey(payment_type=PaymentType.QR_PURCHASE): rule(
            70, 0, FeeBearer.MERCHANT, purchase_split
        ),
        FeeRuleKey(
            payment_type=PaymentType.QR_PURCHASE, merchant_criteria=MerchantCriteria.UMI
        ): rule(30, 0, FeeBearer.MERCHANT, purchase_split),
        FeeRuleKey(payment_type=PaymentType.CASH_IN): rule(
            0, 100_000, FeeBearer.PAYER, service_split
        ),
        FeeRuleKey(payment_type=PaymentType.CASH_OUT): rule(
            0, 250_000, FeeBearer.PAYER, service_split
        ),
        FeeRuleKey(payment_type=PaymentType.TRANSFER): rule(
            0, 250_000, FeeBearer.PAYER, service_split
        ),
    }
    return FeeSchedule(1, date(2026, 1, 1), rules)
