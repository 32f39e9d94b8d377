"""Quoting a payment command as it would be charged, without recording anything.

`quote_parsed` plans the command the way a payment batch does (`plan_payment`: the
parties found and active, the network operator active, the QR's amount, tip or
convenience fee, the fee under the schedule in force, the per-payment limit with the fee
included), from what it reads in the caller's transaction, and returns the fee quote the
payment would charge. It locks nothing and writes nothing. Balances, daily limits and
net debit caps are the ledger's to check when the payment is made, and an id already
recorded is not looked up: a quote is about the price, not about whether the payment
would be accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Connection

from interchange.batch_loading import parties_named
from interchange.fee_schedule import FeeSchedule
from interchange.fees import Quote
from interchange.payment_model import (
    Authorize,
    CashIn,
    CashOut,
    PaymentError,
    PaymentErrorCode,
    QrPurchase,
    Transfer,
)
from interchange.payment_store import load_coops, load_members, load_merchants
from interchange.routing import ParsedCommand, PaymentPlan, RoutingContext, plan_payment

__all__ = ["QUOTABLE", "quote_parsed"]

# The commands that move new money, and so have a price of their own.
QUOTABLE = (QrPurchase, Authorize, CashIn, CashOut, Transfer)


def quote_parsed(
    conn: Connection,
    parsed: ParsedCommand,
    schedules: Sequence[FeeSchedule],
    business_date: date,
    now: datetime,
) -> Quote:
    """The fee quote `parsed` would be charged on `business_date`; the payment's own
    refusal (`PaymentError` or `FeeError`) if it would be refused before reaching the
    ledger, and
    `payment_not_quotable` for a command that moves no new money (a capture, a void, a
    refund: their price is the authorization's or the original's)."""
    command = parsed.command
    if not isinstance(command, QUOTABLE):
        raise PaymentError(
            PaymentErrorCode.PAYMENT_NOT_QUOTABLE,
            f"a {type(command).__name__} has no price of its own",
        )
    named = parties_named([parsed])
    members = load_members(conn, named.member_ids)
    merchants = load_merchants(conn, named.merchant_ids)
    coop_ids = named.counter_coop_ids | {m.coop_id for m in members.values()}
    coop_ids.update(m.coop_id for m in merchants.values())
    coops, network = load_coops(conn, coop_ids)
    ctx = RoutingContext(
        coops=coops,
        network=network,
        members=members,
        merchants=merchants,
        payments={},
        schedules=schedules,
        business_date=business_date,
        now=now,
        merchant_criteria={},
        hold_expires_at={},
        payer_member_ids={},
    )
    plan = plan_payment(parsed, ctx)
    # No recorded payment was loaded, so none is replayed: the command is planned afresh.
    assert isinstance(plan, PaymentPlan) and plan.quote is not None
    return plan.quote
