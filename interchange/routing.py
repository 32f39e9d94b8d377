"""Routing: turn a payment command into the ledger entries, fees and obligations it means.

Pure. `parse_command` checks a command's shape and decodes its QR once; the shell then
loads the parties it names; `plan_payment` decides, for one command, who pays whom, the fee
and its split (by the schedule in force on the business date), the ledger entries, the
obligations between cooperatives, what counts against the payer's daily limit, and what
a void or a capture for less gives back of it.

Checks run in this order, the first failure winning: payment id, the type of each id the
command names (a member or cooperative id that is not an int, or a named payment's id
that is not text, names nothing: not found), amounts and limits, QR content, idempotency
against a recorded payment, parties (member, merchant, cooperative: found, then active),
amount rules of the QR, fee. Balances, holds and caps are the
ledger's to check, in the same transaction.
"""

from __future__ import annotations

from dataclasses import fields

from interchange.payment_model import (
    AUTHORIZATION_TIMEOUT_S_MAX,
    PAYMENT_ID_PATTERN,
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentErrorCode,
    PaymentRecord,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.qr.decode import decode
from interchange.qr.kopnet import extract_payment_request
from interchange.routing_authorizations import (
    plan_capture,
    plan_void,
)
from interchange.routing_checks import (
    canonical_request,
    refuse,
    require_amount,
)
from interchange.routing_flows import (
    plan_cash,
    plan_qr,
    plan_refund,
    plan_transfer,
)
from interchange.routing_model import (
    CoopParty,
    DailyRelease,
    MemberParty,
    MerchantParty,
    ParsedCommand,
    PaymentDraft,
    PaymentPlan,
    RoutingContext,
)

__all__ = [
    "CoopParty",
    "DailyRelease",
    "MemberParty",
    "MerchantParty",
    "ParsedCommand",
    "PaymentDraft",
    "PaymentPlan",
    "RoutingContext",
    "parse_command",
    "plan_payment",
]


_CODE = PaymentErrorCode
# The fields of commands that name a row by its integer id, or a payment by its id, and
# the code for a value of another type: it names nothing.
_ROW_ID_FIELDS = {
    "payer_member_id": _CODE.MEMBER_NOT_FOUND,
    "payee_member_id": _CODE.MEMBER_NOT_FOUND,
    "member_id": _CODE.MEMBER_NOT_FOUND,
    "counter_coop_id": _CODE.COOP_NOT_FOUND,
}
_PAYMENT_ID_FIELDS = {
    "authorization_id": _CODE.AUTHORIZATION_NOT_FOUND,
    "original_payment_id": _CODE.ORIGINAL_NOT_FOUND,
}


def parse_command(command: PaymentCommand) -> ParsedCommand:
    """Check the command's shape and decode its QR; raise the first violation."""
    payment_id = command.payment_id
    if not isinstance(payment_id, str) or not PAYMENT_ID_PATTERN.fullmatch(payment_id):
        raise refuse(_CODE.PAYMENT_ID_INVALID, "payment_id: 1-56 of [A-Za-z0-9._:-]", "payment_id")
    _require_id_types(command)
    qr = None
    if isinstance(command, QrPurchase | Authorize):
        require_amount(command.amount, "amount", optional=True)
        require_amount(command.tip, "tip", optional=True)
        timeout_s = getattr(command, "timeout_s", 1)
        if type(timeout_s) is not int or not 1 <= timeout_s <= AUTHORIZATION_TIMEOUT_S_MAX:
            raise refuse(_CODE.TIMEOUT_INVALID, "timeout_s out of range", "timeout_s")
        qr = extract_payment_request(decode(command.qr_payload))
    elif isinstance(command, Capture):
        require_amount(command.amount, "amount", optional=True)
    elif not isinstance(command, Void):
        require_amount(command.amount, "amount")
    return ParsedCommand(command, qr, canonical_request(command))


def _require_id_types(command: PaymentCommand) -> None:
    """Refuse, as naming nothing, an id of the wrong type: a member or cooperative id that
    is not an int (a bool included), a named payment's id that is not text. Past this
    check every id the command names can be looked up (and hashed) as what it claims."""
    for item in fields(command):
        value = getattr(command, item.name)
        row_code = _ROW_ID_FIELDS.get(item.name)
        if row_code is not None and type(value) is not int:
            raise refuse(row_code, f"{item.name} must be an integer id", item.name)
        payment_code = _PAYMENT_ID_FIELDS.get(item.name)
        if payment_code is not None and type(value) is not str:
            raise refuse(payment_code, f"{item.name} must be a payment id", item.name)


def plan_payment(parsed: ParsedCommand, ctx: RoutingContext) -> PaymentPlan | PaymentRecord:
    """Plan one command; a recorded identical payment is returned as is (a replay)."""
    existing = ctx.payments.get(parsed.command.payment_id)
    if existing is not None:
        if existing.request_json != parsed.request_json:
            raise refuse(
                _CODE.PAYMENT_EXISTS_WITH_DIFFERENT_REQUEST,
                "payment_id was used for a different request",
                "payment_id",
            )
        return existing
    command = parsed.command
    if isinstance(command, QrPurchase | Authorize):
        return plan_qr(parsed, command, ctx)
    if isinstance(command, CashIn | CashOut):
        return plan_cash(parsed, command, ctx)
    if isinstance(command, Transfer):
        return plan_transfer(parsed, command, ctx)
    if isinstance(command, Refund):
        return plan_refund(parsed, command, ctx)
    if isinstance(command, Capture):
        return plan_capture(parsed, command, ctx)
    return plan_void(parsed, command, ctx)
