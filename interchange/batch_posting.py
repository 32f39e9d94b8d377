"""Posting a batch's plans through the ledger, within their payers' daily limits.

Every plan that fits is planned through the ledger in one call, which locks its accounts;
the others get one more chance in the same transaction, once the ledger has decided on
the first ones (`post_within_daily_limits`). A ledger refusal becomes the payment's
outcome: a balance limit on a coop's due account (its net debit cap, a ceiling of the
payment's entry) is `net_debit_cap_exceeded`, on another account
`payee_balance_limit_exceeded`. An idempotency conflict on a payment that a
concurrent transaction recorded meanwhile restarts the batch (`TransactionRetryError`).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection

from interchange.payment_model import PaymentErrorCode, PaymentOutcome
from interchange.payment_records import load_payments
from interchange.registry_model import KycTier, tier_limits
from interchange.routing import PaymentPlan, RoutingContext
from ledger.db import TransactionRetryError
from ledger.entry import EntryOutcome
from ledger.errors import IDEMPOTENCY_CONFLICTS, LedgerErrorCode
from ledger.posting import PlannedEntries, plan_entries, write_planned

__all__ = ["post_within_daily_limits"]

_CODE = PaymentErrorCode
_LEDGER = LedgerErrorCode
_LEDGER_TO_PAYMENT = {
    _LEDGER.INSUFFICIENT_FUNDS: _CODE.INSUFFICIENT_FUNDS,
    _LEDGER.ACCOUNT_FROZEN: _CODE.ACCOUNT_FROZEN,
    _LEDGER.ACCOUNT_CLOSED: _CODE.ACCOUNT_CLOSED,
    _LEDGER.PENDING_EXPIRED: _CODE.AUTHORIZATION_EXPIRED,
    _LEDGER.PENDING_ALREADY_POSTED: _CODE.AUTHORIZATION_NOT_OPEN,
    _LEDGER.PENDING_ALREADY_VOIDED: _CODE.AUTHORIZATION_NOT_OPEN,
}


def post_within_daily_limits(
    conn: Connection,
    plans: dict[int, PaymentPlan],
    ctx: RoutingContext,
    spent_today: dict[int, int],
    seal_key: bytes,
    outcomes: list[PaymentOutcome | None],
) -> tuple[list[int], PlannedEntries | None]:
    """Plan the entries of the plans that fit their payer's daily limit; return the
    indexes accepted and the ledger batch still to write (`write_planned`).

    The plans are counted in order against what each member spent today. Those that do
    not fit get a second chance once the ledger has refused some of the others (their
    amounts then do not count) and accepted the voids and captures for less (what they
    give back to today's totals then counts), still in this transaction, after the first
    batch is written; what still does not fit is refused with `daily_limit_exceeded`.
    """
    spent: defaultdict[int, int] = defaultdict(int, spent_today)
    fit, over = _split_by_daily_limit(plans, ctx, dict(spent))
    accepted, planned = _post(conn, fit, seal_key, ctx, outcomes)
    if over:
        for index in accepted:
            plan = plans[index]
            if plan.daily_member_id is not None:
                spent[plan.daily_member_id] += plan.daily_minor
            back = plan.released
            if back is not None and back.business_date == ctx.business_date:
                spent[back.member_id] = max(0, spent[back.member_id] - back.amount_minor)
        fit, over = _split_by_daily_limit(over, ctx, dict(spent))
        if planned is not None:
            # The second plan must read the balances the first one leaves.
            write_planned(conn, planned)
        more, planned = _post(conn, fit, seal_key, ctx, outcomes)
        accepted = sorted(accepted + more)
    for index, plan in over.items():
        outcomes[index] = PaymentOutcome(
            plan.payment_id, None, _CODE.DAILY_LIMIT_EXCEEDED, "over the member's daily limit"
        )
    return accepted, planned


def _split_by_daily_limit(
    plans: dict[int, PaymentPlan], ctx: RoutingContext, spent: dict[int, int]
) -> tuple[dict[int, PaymentPlan], dict[int, PaymentPlan]]:
    """Plans that fit, counted in order from `spent`, and plans that do not."""
    fit: dict[int, PaymentPlan] = {}
    over: dict[int, PaymentPlan] = {}
    for index in sorted(plans):
        plan, member_id = plans[index], plans[index].daily_member_id
        if member_id is None:
            fit[index] = plan
            continue
        limit = tier_limits(KycTier(ctx.members[member_id].kyc_tier)).daily_out_max_minor
        if spent.get(member_id, 0) + plan.daily_minor > limit:
            over[index] = plan
            continue
        spent[member_id] = spent.get(member_id, 0) + plan.daily_minor
        fit[index] = plan
    return fit, over


def _post(
    conn: Connection,
    plans: dict[int, PaymentPlan],
    seal_key: bytes,
    ctx: RoutingContext,
    outcomes: list[PaymentOutcome | None],
) -> tuple[list[int], PlannedEntries | None]:
    """Plan every plan's entries in one ledger call; return the indexes the ledger took
    and the planned batch, to be written before the commit."""
    order = sorted(plans)
    entries = [entry for i in order for entry in plans[i].entries]
    if not entries:
        return [], None
    planned = plan_entries(conn, entries, seal_key=seal_key)
    results = iter(planned.outcomes)
    accepted = []
    for index in order:
        plan = plans[index]
        mine = [next(results) for _ in plan.entries]
        failed = [o for o in mine if not o.ok]
        if not failed:
            accepted.append(index)
            continue
        # The ledger found the payment's entry id recorded with another request. If the
        # payment is recorded now (this transaction loaded none with its id), a concurrent
        # transaction recorded it since: a fresh transaction replays it, or refuses a
        # different request as the payment's own conflict. If not, the id was taken by an
        # entry that is not a payment's (`entry_id_for`), and the ledger's refusal stands.
        if any(o.code in IDEMPOTENCY_CONFLICTS for o in failed) and load_payments(
            conn, [plan.payment_id]
        ):
            raise TransactionRetryError(f"payment {plan.payment_id!r} was recorded meanwhile")
        outcomes[index] = _ledger_refusal(plan.payment_id, failed, ctx)
    return accepted, planned


def _ledger_refusal(
    payment_id: str, failed: list[EntryOutcome], ctx: RoutingContext
) -> PaymentOutcome:
    cause = next((o for o in failed if o.code != _LEDGER.LINKED_ENTRY_FAILED), failed[0])
    assert cause.code is not None
    ledger_code = LedgerErrorCode(cause.code)
    if ledger_code is _LEDGER.BALANCE_LIMIT_EXCEEDED:
        code = (
            _CODE.NET_DEBIT_CAP_EXCEEDED
            if any(p.accounts.due_account_id == cause.account_id for p in ctx.coops.values())
            else _CODE.PAYEE_BALANCE_LIMIT_EXCEEDED
        )
        return PaymentOutcome(payment_id, None, code, cause.message)
    mapped = _LEDGER_TO_PAYMENT.get(ledger_code)
    return PaymentOutcome(payment_id, None, mapped or ledger_code, cause.message)
