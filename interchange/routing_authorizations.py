"""Routing the second step of a two-phase purchase: capture (in full or for less) or void.

Capturing in full posts the hold; capturing less releases the whole hold and posts the
smaller payment in the same all-or-nothing group, at the authorization's merchant rate.
An authorization past its timeout can be neither. What the authorization counted against
its payer's daily limit and the capture does not take (all of it for a void, or for an
expiry) is given back to the day it counted against (`released_allowance`). Pure.
"""

from __future__ import annotations

from interchange.fee_schedule import FeeBearer, PaymentType
from interchange.fees import Quote
from interchange.movement import (
    Movement,
    movement_obligations,
)
from interchange.payment_model import (
    Capture,
    PaymentErrorCode,
    PaymentKind,
    PaymentRecord,
    PaymentStatus,
    Void,
    entry_id_for,
)
from interchange.routing_checks import (
    coop_party,
    draft_for,
    entry_for,
    fee_quote,
    percentage_extra,
    recorded_payment,
    recorded_qr,
    refuse,
)
from interchange.routing_model import (
    DailyRelease,
    ParsedCommand,
    PaymentDraft,
    PaymentPlan,
    RoutingContext,
)
from ledger.entry import EntryKind, EntryRequest
from ledger.money import Money

__all__ = [
    "auth_movement",
    "open_authorization",
    "plan_capture",
    "plan_void",
    "released_allowance",
    "with_auth_fees",
]


_CODE = PaymentErrorCode


def open_authorization(ctx: RoutingContext, authorization_id: str) -> PaymentRecord:
    auth = recorded_payment(ctx, authorization_id, _CODE.AUTHORIZATION_NOT_FOUND)
    if auth.kind is not PaymentKind.AUTHORIZATION:
        raise refuse(_CODE.AUTHORIZATION_NOT_FOUND, "not an authorization", "authorization_id")
    if auth.status is PaymentStatus.EXPIRED:
        raise refuse(_CODE.AUTHORIZATION_EXPIRED, "the authorization expired", "authorization_id")
    if auth.status is not PaymentStatus.AUTHORIZED:
        raise refuse(
            _CODE.AUTHORIZATION_NOT_OPEN, f"authorization is {auth.status}", "authorization_id"
        )
    # Capturing less releases the hold first, which the ledger allows even after the
    # timeout; the timeout is enforced here, for every capture, before the sweeper runs.
    expires_at = ctx.hold_expires_at.get(auth.payment_id)
    if expires_at is not None and ctx.now >= expires_at:
        raise refuse(_CODE.AUTHORIZATION_EXPIRED, "the authorization expired", "authorization_id")
    return auth


def auth_movement(auth: PaymentRecord, total: Money, fee: Quote | None) -> Movement:
    if fee is None:
        issuer_fee, acquirer_fee, network_fee = auth.issuer_fee, auth.acquirer_fee, auth.network_fee
        fee_minor = auth.fee.amount_minor
    else:
        shares = fee.shares
        issuer_fee, acquirer_fee, network_fee = shares.issuer, shares.acquirer, shares.network
        fee_minor = fee.fee.amount_minor
    return Movement(
        total.currency,
        auth.issuer_coop_id,
        auth.payer_account_id,
        total.amount_minor,
        auth.acquirer_coop_id,
        auth.payee_account_id,
        total.amount_minor - fee_minor,
        issuer_fee.amount_minor,
        acquirer_fee.amount_minor,
        network_fee.amount_minor,
    )


def plan_capture(parsed: ParsedCommand, command: Capture, ctx: RoutingContext) -> PaymentPlan:
    auth = open_authorization(ctx, command.authorization_id)
    held = auth.amount + auth.extra
    amount = command.amount or auth.amount
    if amount.currency != held.currency or amount.amount_minor > auth.amount.amount_minor:
        raise refuse(_CODE.CAPTURE_EXCEEDS_AUTHORIZATION, "more than was authorized", "amount")
    extra = captured_extra(auth, amount)
    total = amount + extra
    network_id = ctx.network.accounts.coop_id
    # Nobody pays into or out of a cooperative that is not active, captures in full included.
    issuer, acquirer = (
        coop_party(ctx, auth.issuer_coop_id),
        coop_party(ctx, auth.acquirer_coop_id),
    )
    if total == held:
        movement = auth_movement(auth, total, None)
        entries: tuple[EntryRequest, ...] = (
            EntryRequest(
                entry_id_for(command.payment_id),
                ctx.business_date,
                kind=EntryKind.POST_PENDING,
                target_id=auth.entry_id,
            ),
        )
        fee: Quote | None = None
    else:
        criteria = ctx.merchant_criteria.get(auth.merchant_id) if auth.merchant_id else None
        # At the authorization's rates, as a capture in full is: the merchant agreed to them.
        fee = fee_quote(
            ctx,
            total,
            PaymentType.QR_PURCHASE,
            issuer,
            acquirer,
            criteria,
            schedule_version=auth.schedule_version,
        )
        movement = auth_movement(auth, total, fee)
        # Capturing less releases the whole hold and posts the smaller payment, together.
        release = EntryRequest(
            entry_id_for(command.payment_id, "/v"),
            ctx.business_date,
            kind=EntryKind.VOID_PENDING,
            target_id=auth.entry_id,
            linked=True,
        )
        # The hold counted the whole authorization against the caps, and the smaller payment
        # raises each due balance by no more than the hold did: capturing for less goes
        # through whenever capturing in full would (after a settlement payout took the
        # cooperative past its cap, say), so it names no cap of its own.
        entries = (release, entry_for(ctx, command.payment_id, movement, capped=False))
    draft = draft_for(
        PaymentKind.CAPTURE,
        PaymentStatus.COMPLETED,
        movement,
        auth.issuer_coop_id,
        auth.acquirer_coop_id,
        amount,
        extra,
        fee,
        entries[-1].entry_id,
        merchant_id=auth.merchant_id,
        original=auth.payment_id,
    )
    if fee is None:
        draft = with_auth_fees(draft, auth)
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        entries,
        movement_obligations(movement, network_id),
        resolves=auth.payment_id,
        resolution=PaymentStatus.CAPTURED,
        released=released_allowance(auth, _payer_member_id(ctx, auth), total),
    )


def captured_extra(auth: PaymentRecord, amount: Money) -> Money:
    """What the payer adds to a capture of `amount`: a tip or a fixed convenience fee as
    authorized; a percentage convenience fee on what is captured (from the authorized
    code, decoded again only for a capture for less)."""
    if amount == auth.amount:
        return auth.extra
    rule = recorded_qr(auth.request_json).fee_rule
    if rule is None or rule.percentage_bps is None:
        return auth.extra
    return percentage_extra(amount, rule.percentage_bps)


def with_auth_fees(draft: PaymentDraft, auth: PaymentRecord) -> PaymentDraft:
    from dataclasses import replace

    return replace(
        draft,
        fee=auth.fee,
        fee_bearer=auth.fee_bearer,
        issuer_fee=auth.issuer_fee,
        acquirer_fee=auth.acquirer_fee,
        network_fee=auth.network_fee,
        schedule_version=auth.schedule_version,
    )


def plan_void(parsed: ParsedCommand, command: Void, ctx: RoutingContext) -> PaymentPlan:
    auth = open_authorization(ctx, command.authorization_id)
    movement = auth_movement(auth, auth.amount + auth.extra, None)
    entry = EntryRequest(
        entry_id_for(command.payment_id),
        ctx.business_date,
        kind=EntryKind.VOID_PENDING,
        target_id=auth.entry_id,
    )
    draft = draft_for(
        PaymentKind.VOID,
        PaymentStatus.COMPLETED,
        movement,
        auth.issuer_coop_id,
        auth.acquirer_coop_id,
        auth.amount,
        auth.extra,
        None,
        entry.entry_id,
        merchant_id=auth.merchant_id,
        original=auth.payment_id,
    )
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        (entry,),
        resolves=auth.payment_id,
        resolution=PaymentStatus.VOIDED,
        released=released_allowance(auth, _payer_member_id(ctx, auth), None),
    )


def released_allowance(
    auth: PaymentRecord, payer_member_id: int, taken: Money | None
) -> DailyRelease | None:
    """What the authorization gives back of the daily allowance it counted when it resolves
    with its payer paying `taken` (None for a void or an expiry): the rest, to the total of
    the day it counted against; None when nothing is left."""
    # It counted what it held from the payer: the amount and what the payer added. A QR
    # purchase's fee is never the payer's (a schedule may not surcharge one).
    assert auth.kind is PaymentKind.AUTHORIZATION
    assert auth.fee_bearer != FeeBearer.PAYER.value
    counted = auth.amount + auth.extra
    released_minor = counted.amount_minor - (0 if taken is None else taken.amount_minor)
    assert 0 <= released_minor <= counted.amount_minor, "a capture takes at most what was held"
    if released_minor == 0:
        return None
    return DailyRelease(payer_member_id, auth.business_date, released_minor)


def _payer_member_id(ctx: RoutingContext, auth: PaymentRecord) -> int:
    member_id = ctx.payer_member_ids.get(auth.payment_id)
    assert member_id is not None, "an authorization holds from a member's wallet"
    return member_id
