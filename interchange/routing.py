"""Routing: turn a payment command into the ledger entries, fees and obligations it means.

Pure. `parse_command` checks a command's shape and decodes its QR once; the shell then
loads the parties it names; `plan_payment` decides, for one command, who pays whom, the fee
and its split (by the schedule in force on the business date), the ledger entries, the
obligations between cooperatives, and what counts against the payer's daily limit.

Checks run in this order, the first failure winning: payment id, amounts and limits, QR
content, idempotency against a recorded payment, parties (member, merchant, cooperative:
found, then active), amount rules of the QR, fee. Balances, holds and caps are the
ledger's to check, in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date

from interchange.fee_schedule import FeeSchedule, MerchantCriteria, PaymentType
from interchange.fees import Quote, quote, schedule_in_force
from interchange.movement import (
    CoopAccounts,
    Movement,
    ObligationDelta,
    movement_legs,
    movement_obligations,
)
from interchange.payment_model import (
    AUTHORIZATION_TIMEOUT_S_MAX,
    PAYMENT_ID_PATTERN,
    TRANSACTION_MAX_MINOR,
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentError,
    PaymentErrorCode,
    PaymentKind,
    PaymentRecord,
    PaymentStatus,
    QrPurchase,
    Refund,
    Transfer,
    Void,
    entry_id_for,
)
from interchange.qr.decode import decode
from interchange.qr.fees import TipIndicator
from interchange.qr.kopnet import KopnetPaymentRequest, extract_payment_request
from ledger.entry import EntryKind, EntryRequest
from ledger.money import Money

__all__ = [
    "CoopParty",
    "MemberParty",
    "MerchantParty",
    "ParsedCommand",
    "PaymentPlan",
    "RoutingContext",
    "parse_command",
    "plan_payment",
]

_CODE = PaymentErrorCode


@dataclass(frozen=True, slots=True)
class MemberParty:
    """What routing needs to know of a member."""

    member_id: int
    coop_id: int
    active: bool
    kyc_tier: str
    wallet_account_id: int


@dataclass(frozen=True, slots=True)
class MerchantParty:
    """What routing needs to know of a merchant."""

    merchant_id: int
    coop_id: int
    active: bool
    network_merchant_id: str
    criteria: str
    wallet_account_id: int


@dataclass(frozen=True, slots=True)
class CoopParty:
    """What routing needs to know of a participant."""

    accounts: CoopAccounts
    active: bool
    currency: str


@dataclass(frozen=True, slots=True)
class RoutingContext:
    """Everything loaded for a batch of commands."""

    coops: Mapping[int, CoopParty]
    network: CoopParty
    members: Mapping[int, MemberParty]
    merchants: Mapping[str, MerchantParty]
    payments: Mapping[str, PaymentRecord]
    schedules: Sequence[FeeSchedule]
    business_date: date


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command whose shape is valid, with its QR decoded and its canonical request."""

    command: PaymentCommand
    qr: KopnetPaymentRequest | None
    request_json: str


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    """The payment row to write if the ledger accepts the entries."""

    kind: PaymentKind
    status: PaymentStatus
    issuer_coop_id: int
    acquirer_coop_id: int
    payer_account_id: int
    payee_account_id: int
    merchant_id: int | None
    amount: Money
    extra: Money
    fee: Money
    fee_bearer: str
    issuer_fee: Money
    acquirer_fee: Money
    network_fee: Money
    schedule_version: int | None
    entry_id: str
    original_payment_id: str | None


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    """One command's decision: the row, the ledger entries, and their side effects."""

    payment_id: str
    draft: PaymentDraft
    request_json: str
    entries: tuple[EntryRequest, ...]
    obligations: tuple[ObligationDelta, ...] = ()
    daily_member_id: int | None = None
    daily_minor: int = 0
    refund_of: str | None = None
    resolves: str | None = None
    resolution: PaymentStatus | None = None
    notes: Mapping[str, str] = field(default_factory=dict)


def _fail(code: PaymentErrorCode, message: str, field_name: str | None = None) -> PaymentError:
    return PaymentError(code, message, field=field_name)


def _money_value(value: object) -> object:
    if isinstance(value, Money):
        return [value.amount_minor, value.currency]
    return value


def _canonical(command: PaymentCommand) -> str:
    fields = {key: _money_value(getattr(command, key)) for key in asdict(command)}
    return json.dumps([type(command).__name__, fields], sort_keys=True, separators=(",", ":"))


def _require_amount(amount: Money | None, name: str, *, optional: bool = False) -> None:
    if amount is None:
        if not optional:
            raise _fail(_CODE.AMOUNT_INVALID, f"{name} is required", name)
        return
    if not isinstance(amount, Money) or not amount.is_positive():
        raise _fail(_CODE.AMOUNT_INVALID, f"{name} must be positive", name)
    if amount.amount_minor > TRANSACTION_MAX_MINOR:
        raise _fail(_CODE.AMOUNT_OVER_LIMIT, f"{name} is over the per-payment limit", name)


def parse_command(command: PaymentCommand) -> ParsedCommand:
    """Check the command's shape and decode its QR; raise the first violation."""
    payment_id = command.payment_id
    if not isinstance(payment_id, str) or not PAYMENT_ID_PATTERN.fullmatch(payment_id):
        raise _fail(_CODE.PAYMENT_ID_INVALID, "payment_id: 1-56 of [A-Za-z0-9._:-]", "payment_id")
    qr = None
    if isinstance(command, QrPurchase | Authorize):
        _require_amount(command.amount, "amount", optional=True)
        _require_amount(command.tip, "tip", optional=True)
        timeout_s = getattr(command, "timeout_s", 1)
        if type(timeout_s) is not int or not 1 <= timeout_s <= AUTHORIZATION_TIMEOUT_S_MAX:
            raise _fail(_CODE.TIMEOUT_INVALID, "timeout_s out of range", "timeout_s")
        qr = extract_payment_request(decode(command.qr_payload))
    elif isinstance(command, Capture):
        _require_amount(command.amount, "amount", optional=True)
    elif not isinstance(command, Void):
        _require_amount(command.amount, "amount")
    return ParsedCommand(command, qr, _canonical(command))


def plan_payment(parsed: ParsedCommand, ctx: RoutingContext) -> PaymentPlan | PaymentRecord:
    """Plan one command; a recorded identical payment is returned as is (a replay)."""
    existing = ctx.payments.get(parsed.command.payment_id)
    if existing is not None:
        if existing.request_json != parsed.request_json:
            raise _fail(
                _CODE.PAYMENT_EXISTS_WITH_DIFFERENT_REQUEST,
                "payment_id was used for a different request",
                "payment_id",
            )
        return existing
    command = parsed.command
    if isinstance(command, QrPurchase | Authorize):
        return _plan_qr(parsed, command, ctx)
    if isinstance(command, CashIn | CashOut):
        return _plan_cash(parsed, command, ctx)
    if isinstance(command, Transfer):
        return _plan_transfer(parsed, command, ctx)
    if isinstance(command, Refund):
        return _plan_refund(parsed, command, ctx)
    if isinstance(command, Capture):
        return _plan_capture(parsed, command, ctx)
    return _plan_void(parsed, command, ctx)


def _member(ctx: RoutingContext, member_id: int) -> tuple[MemberParty, CoopParty]:
    member = ctx.members.get(member_id)
    if member is None:
        raise _fail(_CODE.MEMBER_NOT_FOUND, f"no member {member_id}", "member_id")
    coop = _coop(ctx, member.coop_id)
    if not member.active:
        raise _fail(_CODE.MEMBER_NOT_ACTIVE, f"member {member_id} is not active", "member_id")
    return member, coop


def _coop(ctx: RoutingContext, coop_id: int) -> CoopParty:
    coop = ctx.coops.get(coop_id)
    if coop is None:
        raise _fail(_CODE.COOP_NOT_FOUND, f"no cooperative {coop_id}", "coop_id")
    if not coop.active:
        raise _fail(_CODE.COOP_NOT_ACTIVE, f"cooperative {coop_id} is not active", "coop_id")
    return coop


def _merchant(ctx: RoutingContext, qr: KopnetPaymentRequest) -> tuple[MerchantParty, CoopParty]:
    merchant = ctx.merchants.get(qr.merchant_network_id)
    if merchant is None:
        raise _fail(_CODE.MERCHANT_NOT_FOUND, "no merchant with that id", "qr_payload")
    coop = _coop(ctx, merchant.coop_id)
    if not merchant.active:
        raise _fail(_CODE.MERCHANT_NOT_ACTIVE, "the merchant is not active", "qr_payload")
    return merchant, coop


def _quote(
    ctx: RoutingContext,
    amount: Money,
    payment_type: PaymentType,
    issuer: CoopParty,
    acquirer: CoopParty,
    criteria: str | None = None,
) -> Quote:
    if amount.currency != issuer.currency or amount.currency != acquirer.currency:
        raise _fail(_CODE.CURRENCY_NOT_SUPPORTED, f"{amount.currency} is not settled here")
    schedule = schedule_in_force(ctx.schedules, ctx.business_date)
    return quote(
        amount,
        payment_type,
        schedule,
        issuer.accounts.coop_id,
        acquirer.accounts.coop_id,
        MerchantCriteria(criteria) if criteria else None,
    )


def _qr_total(qr: KopnetPaymentRequest, command: QrPurchase | Authorize) -> tuple[Money, Money]:
    """The purchase amount and what the payer adds (tip or convenience fee)."""
    if qr.amount is not None:
        if command.amount is not None and command.amount != qr.amount:
            raise _fail(_CODE.QR_AMOUNT_MISMATCH, "the code fixes a different amount", "amount")
        amount = qr.amount
    elif command.amount is None:
        raise _fail(_CODE.QR_AMOUNT_REQUIRED, "a static code needs an amount", "amount")
    else:
        amount = command.amount
    rule, tip = qr.fee_rule, command.tip
    if tip is not None and (rule is None or rule.indicator is not TipIndicator.PAYER_ENTERS_TIP):
        raise _fail(_CODE.TIP_NOT_ALLOWED, "this code does not ask for a tip", "tip")
    extra = tip or Money.zero(amount.currency)
    if rule is not None and rule.fixed_fee is not None:
        extra = rule.fixed_fee
    elif rule is not None and rule.percentage_bps is not None:
        extra = Money((amount.amount_minor * rule.percentage_bps + 5000) // 10000, amount.currency)
    if amount.amount_minor + extra.amount_minor > TRANSACTION_MAX_MINOR:
        raise _fail(_CODE.AMOUNT_OVER_LIMIT, "amount with tip is over the limit", "amount")
    return amount, extra


def _draft(
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


def _accounts(ctx: RoutingContext) -> dict[int, CoopAccounts]:
    return {coop_id: party.accounts for coop_id, party in ctx.coops.items()}


def _entry(
    ctx: RoutingContext, payment_id: str, movement: Movement, **kwargs: object
) -> EntryRequest:
    legs = movement_legs(movement, _accounts(ctx), ctx.network.accounts)
    return EntryRequest(entry_id_for(payment_id), ctx.business_date, legs, **kwargs)  # type: ignore[arg-type]


def _plan_qr(
    parsed: ParsedCommand, command: QrPurchase | Authorize, ctx: RoutingContext
) -> PaymentPlan:
    assert parsed.qr is not None
    payer, issuer = _member(ctx, command.payer_member_id)
    merchant, acquirer = _merchant(ctx, parsed.qr)
    amount, extra = _qr_total(parsed.qr, command)
    total = amount + extra
    fee = _quote(ctx, total, PaymentType.QR_PURCHASE, issuer, acquirer, merchant.criteria)
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
    entry = _entry(ctx, command.payment_id, movement, kind=entry_kind, timeout_s=timeout)
    draft = _draft(
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
    )


def _plan_cash(
    parsed: ParsedCommand, command: CashIn | CashOut, ctx: RoutingContext
) -> PaymentPlan:
    member, issuer = _member(ctx, command.member_id)
    counter = _coop(ctx, command.counter_coop_id)
    cash_in = isinstance(command, CashIn)
    payment_type = PaymentType.CASH_IN if cash_in else PaymentType.CASH_OUT
    fee = _quote(ctx, command.amount, payment_type, issuer, counter)
    shares = fee.shares
    if cash_in:
        credit = command.amount.amount_minor - fee.fee.amount_minor
        if credit <= 0:
            raise _fail(_CODE.AMOUNT_BELOW_FEE, "the deposit does not cover the fee", "amount")
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
    entry = _entry(ctx, command.payment_id, movement)
    draft = _draft(
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
    daily = (None, 0) if cash_in else (member.member_id, movement.debit_minor)
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        (entry,),
        movement_obligations(movement, ctx.network.accounts.coop_id),
        *daily,
    )


def _plan_transfer(parsed: ParsedCommand, command: Transfer, ctx: RoutingContext) -> PaymentPlan:
    payer, issuer = _member(ctx, command.payer_member_id)
    payee, acquirer = _member(ctx, command.payee_member_id)
    if payer.wallet_account_id == payee.wallet_account_id:
        raise _fail(_CODE.SAME_WALLET, "payer and payee are the same wallet", "payee_member_id")
    fee = _quote(ctx, command.amount, PaymentType.TRANSFER, issuer, acquirer)
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
    entry = _entry(ctx, command.payment_id, movement)
    draft = _draft(
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
    )


def _original(ctx: RoutingContext, payment_id: str, code: PaymentErrorCode) -> PaymentRecord:
    original = ctx.payments.get(payment_id)
    if original is None:
        raise _fail(code, f"no payment {payment_id!r}", "original_payment_id")
    return original


def _plan_refund(parsed: ParsedCommand, command: Refund, ctx: RoutingContext) -> PaymentPlan:
    original = _original(ctx, command.original_payment_id, _CODE.ORIGINAL_NOT_FOUND)
    if original.kind not in (PaymentKind.QR_PURCHASE, PaymentKind.CAPTURE):
        raise _fail(
            _CODE.ORIGINAL_NOT_REFUNDABLE,
            f"a {original.kind} cannot be refunded",
            "original_payment_id",
        )
    paid = original.amount + original.extra
    if command.amount.currency != paid.currency:
        raise _fail(_CODE.CURRENCY_NOT_SUPPORTED, "refund in another currency", "amount")
    if original.refunded.amount_minor + command.amount.amount_minor > paid.amount_minor:
        raise _fail(_CODE.REFUND_EXCEEDS_ORIGINAL, "more than is left to refund", "amount")
    _coop(ctx, original.issuer_coop_id)
    _coop(ctx, original.acquirer_coop_id)
    movement = Movement(
        command.amount.currency,
        original.acquirer_coop_id,
        original.payee_account_id,
        command.amount.amount_minor,
        original.issuer_coop_id,
        original.payer_account_id,
        command.amount.amount_minor,
    )
    entry = _entry(ctx, command.payment_id, movement)
    draft = _draft(
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


def _open_authorization(ctx: RoutingContext, authorization_id: str) -> PaymentRecord:
    auth = _original(ctx, authorization_id, _CODE.AUTHORIZATION_NOT_FOUND)
    if auth.kind is not PaymentKind.AUTHORIZATION:
        raise _fail(_CODE.AUTHORIZATION_NOT_FOUND, "not an authorization", "authorization_id")
    if auth.status is PaymentStatus.EXPIRED:
        raise _fail(_CODE.AUTHORIZATION_EXPIRED, "the authorization expired", "authorization_id")
    if auth.status is not PaymentStatus.AUTHORIZED:
        raise _fail(
            _CODE.AUTHORIZATION_NOT_OPEN, f"authorization is {auth.status}", "authorization_id"
        )
    return auth


def _auth_movement(auth: PaymentRecord, total: Money, fee: Quote | None) -> Movement:
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


def _plan_capture(parsed: ParsedCommand, command: Capture, ctx: RoutingContext) -> PaymentPlan:
    auth = _open_authorization(ctx, command.authorization_id)
    held = auth.amount + auth.extra
    amount = command.amount or auth.amount
    if amount.currency != held.currency or amount.amount_minor > auth.amount.amount_minor:
        raise _fail(_CODE.CAPTURE_EXCEEDS_AUTHORIZATION, "more than was authorized", "amount")
    total = amount + auth.extra
    network_id = ctx.network.accounts.coop_id
    if total == held:
        movement = _auth_movement(auth, total, None)
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
        issuer, acquirer = _coop(ctx, auth.issuer_coop_id), _coop(ctx, auth.acquirer_coop_id)
        fee = _quote(ctx, total, PaymentType.QR_PURCHASE, issuer, acquirer)
        movement = _auth_movement(auth, total, fee)
        # Capturing less releases the whole hold and posts the smaller payment, together.
        release = EntryRequest(
            entry_id_for(command.payment_id, "/v"),
            ctx.business_date,
            kind=EntryKind.VOID_PENDING,
            target_id=auth.entry_id,
            linked=True,
        )
        entries = (release, _entry(ctx, command.payment_id, movement))
    draft = _draft(
        PaymentKind.CAPTURE,
        PaymentStatus.COMPLETED,
        movement,
        auth.issuer_coop_id,
        auth.acquirer_coop_id,
        amount,
        auth.extra,
        fee,
        entries[-1].entry_id,
        merchant_id=auth.merchant_id,
        original=auth.payment_id,
    )
    if fee is None:
        draft = _with_auth_fees(draft, auth)
    return PaymentPlan(
        command.payment_id,
        draft,
        parsed.request_json,
        entries,
        movement_obligations(movement, network_id),
        resolves=auth.payment_id,
        resolution=PaymentStatus.CAPTURED,
    )


def _with_auth_fees(draft: PaymentDraft, auth: PaymentRecord) -> PaymentDraft:
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


def _plan_void(parsed: ParsedCommand, command: Void, ctx: RoutingContext) -> PaymentPlan:
    auth = _open_authorization(ctx, command.authorization_id)
    movement = _auth_movement(auth, auth.amount + auth.extra, None)
    entry = EntryRequest(
        entry_id_for(command.payment_id),
        ctx.business_date,
        kind=EntryKind.VOID_PENDING,
        target_id=auth.entry_id,
    )
    draft = _draft(
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
    )
