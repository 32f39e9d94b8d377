"""Checks and builders shared by the routing of every kind of payment.

Parties are looked up found-then-active; the fee comes from the schedule in force on the
batch's business date; a draft is the payment row to write if the ledger accepts. Pure.
"""

from __future__ import annotations

import json
from dataclasses import fields

from interchange.fee_schedule import MerchantCriteria, PaymentType
from interchange.fees import Quote, deducted, quote, schedule_in_force
from interchange.movement import (
    Movement,
    movement_legs,
)
from interchange.payment_model import (
    TRANSACTION_MAX_MINOR,
    PaymentCommand,
    PaymentError,
    PaymentErrorCode,
    PaymentKind,
    PaymentRecord,
    PaymentStatus,
    entry_id_for,
)
from interchange.qr.decode import decode
from interchange.qr.kopnet import KopnetPaymentRequest, extract_payment_request
from interchange.routing_model import (
    CoopParty,
    MemberParty,
    MerchantParty,
    PaymentDraft,
    RoutingContext,
)
from ledger.entry import Ceiling, EntryKind, EntryRequest, Leg
from ledger.money import Money

__all__ = [
    "canonical_request",
    "coop_party",
    "covered",
    "deposit_quote",
    "draft_for",
    "entry_for",
    "fee_quote",
    "member_party",
    "merchant_party",
    "percentage_extra",
    "recorded_payment",
    "recorded_qr",
    "refuse",
    "require_amount",
    "require_within_limit",
]


_CODE = PaymentErrorCode


def refuse(code: PaymentErrorCode, message: str, field_name: str | None = None) -> PaymentError:
    return PaymentError(code, message, field=field_name)


def deposit_quote(priced: Quote) -> Quote:
    """A cash-in's quote: the fee comes out of the deposit, which must more than cover it."""
    return covered(deducted(priced))


def canonical_request(command: PaymentCommand) -> str:
    """The command as canonical JSON, `[type name, fields]`: what a repeated payment id is
    compared by, and what the payment's row keeps (`recorded_qr`)."""
    values = {f.name: _json_value(getattr(command, f.name)) for f in fields(command)}
    return json.dumps([type(command).__name__, values], sort_keys=True, separators=(",", ":"))


def _json_value(value: object) -> object:
    if isinstance(value, Money):
        return [value.amount_minor, value.currency]
    return value


def recorded_qr(request_json: str) -> KopnetPaymentRequest:
    """The payment request of the code a recorded purchase or authorization was paid
    with (`canonical_request` of a command with a `qr_payload`), decoded again."""
    _kind, values = json.loads(request_json)
    return extract_payment_request(decode(values["qr_payload"]))


def percentage_extra(amount: Money, bps: int) -> Money:
    """A percentage convenience fee (QR tag 57) on `amount`, rounded half up."""
    return Money((amount.amount_minor * bps + 5000) // 10000, amount.currency)


def covered(priced: Quote) -> Quote:
    """The quote, if the payee still receives something once the fee is taken; otherwise
    `amount_below_fee` (a fee borne by the payee, capped at the amount, can use it all)."""
    if priced.payee_receives.amount_minor <= 0:
        raise refuse(_CODE.AMOUNT_BELOW_FEE, "the fee uses up the whole amount", "amount")
    return priced


def require_amount(amount: Money | None, name: str, *, optional: bool = False) -> None:
    if amount is None:
        if not optional:
            raise refuse(_CODE.AMOUNT_INVALID, f"{name} is required", name)
        return
    if not isinstance(amount, Money) or not amount.is_positive():
        raise refuse(_CODE.AMOUNT_INVALID, f"{name} must be positive", name)
    if amount.amount_minor > TRANSACTION_MAX_MINOR:
        raise refuse(_CODE.AMOUNT_OVER_LIMIT, f"{name} is over the per-payment limit", name)


def member_party(ctx: RoutingContext, member_id: int) -> tuple[MemberParty, CoopParty]:
    member = ctx.members.get(member_id)
    if member is None:
        raise refuse(_CODE.MEMBER_NOT_FOUND, f"no member {member_id}", "member_id")
    coop = coop_party(ctx, member.coop_id)
    if not member.active:
        raise refuse(_CODE.MEMBER_NOT_ACTIVE, f"member {member_id} is not active", "member_id")
    return member, coop


def coop_party(ctx: RoutingContext, coop_id: int) -> CoopParty:
    """The cooperative a payment moves money into or out of, if it and the network
    operator are both active: every fee's network share, and every settlement, passes
    through the operator's accounts, so nothing moves while it is suspended or closed.
    `coop_not_found`, then `coop_not_active` (the cooperative's, then the operator's)."""
    coop = ctx.coops.get(coop_id)
    if coop is None:
        raise refuse(_CODE.COOP_NOT_FOUND, f"no cooperative {coop_id}", "coop_id")
    if not coop.active:
        raise refuse(_CODE.COOP_NOT_ACTIVE, f"cooperative {coop_id} is not active", "coop_id")
    if not ctx.network.active:
        raise refuse(_CODE.COOP_NOT_ACTIVE, "the network operator is not active", "coop_id")
    return coop


def merchant_party(
    ctx: RoutingContext, qr: KopnetPaymentRequest
) -> tuple[MerchantParty, CoopParty]:
    merchant = ctx.merchants.get(qr.merchant_network_id)
    if merchant is None:
        raise refuse(_CODE.MERCHANT_NOT_FOUND, "no merchant with that id", "qr_payload")
    coop = coop_party(ctx, merchant.coop_id)
    if not merchant.active:
        raise refuse(_CODE.MERCHANT_NOT_ACTIVE, "the merchant is not active", "qr_payload")
    return merchant, coop


def fee_quote(
    ctx: RoutingContext,
    amount: Money,
    payment_type: PaymentType,
    issuer: CoopParty,
    acquirer: CoopParty,
    criteria: str | None = None,
    *,
    schedule_version: int | None = None,
) -> Quote:
    """The fee quote under the schedule in force on the business date, or under the
    schedule of `schedule_version` (an authorization's, for its capture)."""
    if amount.currency != issuer.currency or amount.currency != acquirer.currency:
        raise refuse(_CODE.CURRENCY_NOT_SUPPORTED, f"{amount.currency} is not settled here")
    if schedule_version is None:
        schedule = schedule_in_force(ctx.schedules, ctx.business_date)
    else:
        (schedule,) = (s for s in ctx.schedules if s.version == schedule_version)
    return covered(
        quote(
            amount,
            payment_type,
            schedule,
            issuer.accounts.coop_id,
            acquirer.accounts.coop_id,
            MerchantCriteria(criteria) if criteria else None,
        )
    )


def draft_for(
    kind: PaymentKind,
    status: PaymentStatus,
    movement: Movement,
    issuer_coop_id: int,
    acquirer_coop_id: int,
    amount: Money,
    extra: Money,
    fee_quote: Quote | None,
    entry_id: str,
    *,
    merchant_id: int | None = None,
    original: str | None = None,
) -> PaymentDraft:
    zero = Money.zero(amount.currency)
    shares = fee_quote.shares if fee_quote else None
    return PaymentDraft(
        kind=kind,
        status=status,
        issuer_coop_id=issuer_coop_id,
        acquirer_coop_id=acquirer_coop_id,
        payer_account_id=movement.source_account_id,
        payee_account_id=movement.dest_account_id,
        merchant_id=merchant_id,
        amount=amount,
        extra=extra,
        fee=fee_quote.fee if fee_quote else zero,
        fee_bearer=fee_quote.bearer.value if fee_quote else "none",
        issuer_fee=shares.issuer if shares else zero,
        acquirer_fee=shares.acquirer if shares else zero,
        network_fee=shares.network if shares else zero,
        schedule_version=fee_quote.schedule_version if fee_quote else None,
        entry_id=entry_id,
        original_payment_id=original,
    )


def require_within_limit(payer_pays_minor: int) -> None:
    """`amount_over_limit` when what the payer pays, fee included, is over the per-payment
    limit: the one check of a payment's plan and of `Payments.quote`."""
    if payer_pays_minor > TRANSACTION_MAX_MINOR:
        raise refuse(
            _CODE.AMOUNT_OVER_LIMIT, "with its fee the payment is over the limit", "amount"
        )


def entry_for(
    ctx: RoutingContext,
    payment_id: str,
    movement: Movement,
    *,
    kind: EntryKind = EntryKind.POSTED,
    timeout_s: int | None = None,
    capped: bool = True,
) -> EntryRequest:
    """The ledger entry of a movement; what the payer pays, fee included, stays in the
    per-transaction limit, and, `capped`, neither cooperative's due balance may pass its net
    debit cap."""
    require_within_limit(movement.debit_minor)
    source, dest = ctx.coops[movement.source_coop_id], ctx.coops[movement.dest_coop_id]
    legs = movement_legs(movement, source.accounts, dest.accounts)
    return EntryRequest(
        entry_id_for(payment_id),
        ctx.business_date,
        legs,
        kind=kind,
        timeout_s=timeout_s,
        ceilings=_net_debit_caps(legs, source, dest) if capped else (),
    )


def _net_debit_caps(legs: tuple[Leg, ...], *parties: CoopParty) -> tuple[Ceiling, ...]:
    """Each party's net debit cap as a ceiling on its due account, where the legs name it."""
    named = {leg.account_id for leg in legs}
    caps = {
        party.accounts.due_account_id: party.net_debit_cap_minor
        for party in parties
        if party.net_debit_cap_minor is not None
    }
    return tuple(Ceiling(account, cap) for account, cap in caps.items() if account in named)


def recorded_payment(ctx: RoutingContext, payment_id: str, code: PaymentErrorCode) -> PaymentRecord:
    original = ctx.payments.get(payment_id)
    if original is None:
        raise refuse(code, f"no payment {payment_id!r}", "original_payment_id")
    return original
