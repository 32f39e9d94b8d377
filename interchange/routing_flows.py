"""Routing QR purchases (and authorizations), cash-in and cash-out, transfers, refunds.

Each function turns one parsed command into its plan: who pays whom, the fee and its
split, the ledger entry, the obligations between cooperatives and what counts against the
payer's daily limit. Pure.
"""

from __future__ import annotations

from interchange.fee_schedule import PaymentType
from interchange.movement import (
    Movement,
    movement_obligations,
)
from interchange.payment_model import (
    TRANSACTION_MAX_MINOR,
    Authorize,
    CashIn,
    CashOut,
    PaymentErrorCode,
    PaymentKind,
    PaymentStatus,
    QrPurchase,
    Refund,
    Transfer,
)
from interchange.qr.fees import TipIndicator
from interchange.qr.kopnet import KopnetPaymentRequest
from interchange.routing_checks import (
    coop_party,
    deposit_quote,
    draft_for,
    entry_for,
    fee_quote,
    member_party,
    merchant_party,
    percentage_extra,
    recorded_payment,
    refuse,
)
from interchange.routing_model import (
    ParsedCommand,
    PaymentPlan,
    RoutingContext,
)
from ledger.entry import EntryKind
from ledger.money import Money

__all__ = [
    "plan_cash",
    "plan_qr",
    "plan_refund",
    "plan_transfer",
    "qr_total",
]


_CODE = PaymentErrorCode


def qr_total(qr: KopnetPaymentRequest, command: QrPurchase | Authorize) -> tuple[Money, Money]:
    """The purchase amount and what the payer adds (tip or convenience fee)."""
    if qr.amount is not None:
        if command.amount is not None and command.amount != qr.amount:
            raise refuse(_CODE.QR_AMOUNT_MISMATCH, "the code fixes a different amount", "amount")
        amount = qr.amount
    elif command.amount is None:
        raise refuse(_CODE.QR_AMOUNT_REQUIRED, "a static code needs an amount", "amount")
    else:
        amount = command.amount
    if amount.currency != qr.currency:
        raise refuse(_CODE.CURRENCY_NOT_SUPPORTED, f"the code is in {qr.currency}", "amount")
    rule, tip = qr.fee_rule, command.tip
    if tip is not None and (rule is None or rule.indicator is not TipIndicator.PAYER_ENTERS_TIP):
        raise refuse(_CODE.TIP_NOT_ALLOWED, "this code does not ask for a tip", "tip")
    if tip is not None and tip.currency != amount.currency:
        raise refuse(_CODE.CURRENCY_NOT_SUPPORTED, "the tip is in another currency", "tip")
    extra = tip or Money.zero(amount.currency)
    if rule is not None and rule.fixed_fee is not None:
        extra = rule.fixed_fee
        if extra.currency != amount.currency:
            raise refuse(_CODE.CURRENCY_NOT_SUPPORTED, "the code's fee is in another currency")
    elif rule is not None and rule.percentage_bps is not None:
        extra = percentage_extra(amount, rule.percentage_bps)
    if amount.amount_minor + extra.amount_minor > TRANSACTION_MAX_MINOR:
        raise refuse(_CODE.AMOUNT_OVER_LIMIT, "amount with tip is over the limit", "amount")
    return amount, extra


def plan_qr(
    parsed: ParsedCommand, command: QrPurchase | Authorize, ctx: RoutingContext
) -> PaymentPlan:
    assert parsed.qr is not None
    payer, issuer = member_party(ctx, command.payer_member_id)
    merchant, acquirer = merchant_party(ctx, parsed.qr)
    amount, extra = qr_total(parsed.qr, command)
    total = amount + extra
    fee = fee_quote(ctx, total, PaymentType.QR_PURCHASE, issuer, acquirer, merchant.criteria)
    movement = Movement(
        total.currency,
        payer.coop_id,
        payer.wallet_account_id,
        fee.payer_pays.amount_minor,
        merchant.coop_id,
        merchant.wallet_account_id,
        fee.payee_receives.amount_minor,
        fee.shares.issuer.amount_minor,
        fee.shares.acquirer.amount_minor,
        fee.shares.network.amount_minor,
    )
    pending = isinstance(command, Authorize)
    kind = PaymentKind.AUTHORIZATION if pending else PaymentKind.QR_PURCHASE
    status = PaymentStatus.AUTHORIZED if pending else PaymentStatus.COMPLETED
    entry_kind = EntryKind.PENDING if pending else EntryKind.POSTED
    timeout = command.timeout_s if isinstance(command, Authorize) else None
    entry = entry_for(ctx, command.payment_id, movement, kind=entry_kind, timeout_s=timeout)
    draft = draft_for(
        kind,
        status,
        movement,
        payer.coop_id,
        merchant.coop_id,
        amount,
        extra,
        fee,
        entry.entry_id,
        merchant_id=merchant.merchant_id,
    )
    obligations = () if pending else movement_obligations(movement, ctx.network.accounts.coop_id)
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        (entry,),
        obligations,
        payer.member_id,
        movement.debit_minor,
        quote=fee,
    )


def plan_cash(parsed: ParsedCommand, command: CashIn | CashOut, ctx: RoutingContext) -> PaymentPlan:
    member, issuer = member_party(ctx, command.member_id)
    counter = coop_party(ctx, command.counter_coop_id)
    cash_in = isinstance(command, CashIn)
    payment_type = PaymentType.CASH_IN if cash_in else PaymentType.CASH_OUT
    fee = fee_quote(ctx, command.amount, payment_type, issuer, counter)
    shares = fee.shares
    if cash_in:
        fee = deposit_quote(fee)
        credit = fee.payee_receives.amount_minor
        movement = Movement(
            command.amount.currency,
            counter.accounts.coop_id,
            counter.accounts.cash_account_id,
            command.amount.amount_minor,
            member.coop_id,
            member.wallet_account_id,
            credit,
            shares.acquirer.amount_minor,
            shares.issuer.amount_minor,
            shares.network.amount_minor,
        )
    else:
        movement = Movement(
            command.amount.currency,
            member.coop_id,
            member.wallet_account_id,
            fee.payer_pays.amount_minor,
            counter.accounts.coop_id,
            counter.accounts.cash_account_id,
            fee.payee_receives.amount_minor,
            shares.issuer.amount_minor,
            shares.acquirer.amount_minor,
            shares.network.amount_minor,
        )
    kind = PaymentKind.CASH_IN if cash_in else PaymentKind.CASH_OUT
    entry = entry_for(ctx, command.payment_id, movement)
    draft = draft_for(
        kind,
        PaymentStatus.COMPLETED,
        movement,
        member.coop_id,
        counter.accounts.coop_id,
        command.amount,
        Money.zero(command.amount.currency),
        fee,
        entry.entry_id,
    )
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        (entry,),
        movement_obligations(movement, ctx.network.accounts.coop_id),
        daily_member_id=None if cash_in else member.member_id,
        daily_minor=0 if cash_in else movement.debit_minor,
        quote=fee,
    )


def plan_transfer(parsed: ParsedCommand, command: Transfer, ctx: RoutingContext) -> PaymentPlan:
    payer, issuer = member_party(ctx, command.payer_member_id)
    payee, acquirer = member_party(ctx, command.payee_member_id)
    if payer.wallet_account_id == payee.wallet_account_id:
        raise refuse(_CODE.SAME_WALLET, "payer and payee are the same wallet", "payee_member_id")
    fee = fee_quote(ctx, command.amount, PaymentType.TRANSFER, issuer, acquirer)
    movement = Movement(
        command.amount.currency,
        payer.coop_id,
        payer.wallet_account_id,
        fee.payer_pays.amount_minor,
        payee.coop_id,
        payee.wallet_account_id,
        fee.payee_receives.amount_minor,
        fee.shares.issuer.amount_minor,
        fee.shares.acquirer.amount_minor,
        fee.shares.network.amount_minor,
    )
    entry = entry_for(ctx, command.payment_id, movement)
    draft = draft_for(
        PaymentKind.TRANSFER,
        PaymentStatus.COMPLETED,
        movement,
        payer.coop_id,
        payee.coop_id,
        command.amount,
        Money.zero(command.amount.currency),
        fee,
        entry.entry_id,
    )
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        (entry,),
        movement_obligations(movement, ctx.network.accounts.coop_id),
        payer.member_id,
        movement.debit_minor,
        quote=fee,
    )


def plan_refund(parsed: ParsedCommand, command: Refund, ctx: RoutingContext) -> PaymentPlan:
    original = recorded_payment(ctx, command.original_payment_id, _CODE.ORIGINAL_NOT_FOUND)
    if original.kind not in (PaymentKind.QR_PURCHASE, PaymentKind.CAPTURE):
        raise refuse(
            _CODE.ORIGINAL_NOT_REFUNDABLE,
            f"a {original.kind} cannot be refunded",
            "original_payment_id",
        )
    paid = original.amount + original.extra
    if command.amount.currency != paid.currency:
        raise refuse(_CODE.CURRENCY_NOT_SUPPORTED, "refund in another currency", "amount")
    if original.refunded.amount_minor + command.amount.amount_minor > paid.amount_minor:
        raise refuse(_CODE.REFUND_EXCEEDS_ORIGINAL, "more than is left to refund", "amount")
    coop_party(ctx, original.issuer_coop_id)
    coop_party(ctx, original.acquirer_coop_id)
    movement = Movement(
        command.amount.currency,
        original.acquirer_coop_id,
        original.payee_account_id,
        command.amount.amount_minor,
        original.issuer_coop_id,
        original.payer_account_id,
        command.amount.amount_minor,
    )
    entry = entry_for(ctx, command.payment_id, movement)
    draft = draft_for(
        PaymentKind.REFUND,
        PaymentStatus.COMPLETED,
        movement,
        original.issuer_coop_id,
        original.acquirer_coop_id,
        command.amount,
        Money.zero(command.amount.currency),
        None,
        entry.entry_id,
        merchant_id=original.merchant_id,
        original=original.payment_id,
    )
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        (entry,),
        movement_obligations(movement, ctx.network.accounts.coop_id),
        refund_of=original.payment_id,
    )
