"""One transaction for a batch of payment commands: route, check limits, post, record.

Each command succeeds or fails on its own; a failed one records nothing, neither in the
ledger nor here. Steps: parse (QR decoded once), join the window, load the parties and the
payments named, plan each command (pure), hold the daily limits, plan every entry through
the ledger in one call (which locks its accounts), then write the ledger's entries, the
payment rows, obligations, daily totals (what the payments spend, less what the voids and
captures for less give back), refunded amounts and authorization states for the payments
the ledger accepted, and commit. On PostgreSQL the ledger's writes, the payment rows and
the COMMIT go in one round trip, so the accounts stay locked for one trip after planning
instead of three. A command repeated within the batch gets the first one's outcome (or a
conflict if it differs). Commands that must see another's outcome (a second refund of one
purchase, a void after a capture) are not in the same batch: the service runs them in the
next transaction (`split_dependents`), once the ledger has decided.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Connection

from interchange.daily_totals import (
    add_daily,
    daily_rows,
    load_payers,
    lock_daily,
    releasable_keys,
    release_daily,
    release_rows,
)
from interchange.errors import InterchangeError
from interchange.fee_schedule import FeeSchedule
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentErrorCode,
    PaymentOutcome,
    PaymentRecord,
    PaymentStatus,
    QrPurchase,
    Refund,
    Transfer,
    Void,
    storable_payment_ids,
)
from interchange.payment_store import (
    add_obligations,
    enter_window,
    insert_payments,
    load_coops,
    load_hold_expiry,
    load_members,
    load_merchant_criteria,
    load_merchants,
    load_payments,
    load_schedule_version,
    obligation_rows,
    payment_rows,
    records_of,
    resolve_payments,
)
from interchange.payment_store_pg import BatchLoad, load_batch, write_batch
from interchange.registry_model import KycTier, tier_limits
from interchange.routing import (
    ParsedCommand,
    PaymentPlan,
    RoutingContext,
    parse_command,
    plan_payment,
)
from interchange.window import WindowCalendar
from ledger.db import TransactionRetryError, commit_with
from ledger.entry import EntryOutcome
from ledger.errors import IDEMPOTENCY_CONFLICTS, LedgerError, LedgerErrorCode
from ledger.posting import PlannedEntries, plan_entries, write_planned

__all__ = [
    "BatchSettings",
    "load_named",
    "parse_or_refuse",
    "process_parsed",
    "split_dependents",
]

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


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """What a payment batch needs besides its commands."""

    seal_key: bytes
    calendar: WindowCalendar
    # The schedules published up to the given newest version.
    schedules: Callable[[Connection, int], Sequence[FeeSchedule]]


def _refused(payment_id: str, error: InterchangeError | LedgerError) -> PaymentOutcome:
    return PaymentOutcome(payment_id, None, error.code, error.message)


def parse_or_refuse(command: PaymentCommand) -> ParsedCommand | PaymentOutcome:
    """The command checked and its QR decoded, or its refusal: pure, no database."""
    try:
        return parse_command(command)
    except (InterchangeError, LedgerError) as error:
        return _refused(str(command.payment_id), error)


def split_dependents(
    items: Sequence[ParsedCommand | PaymentOutcome],
) -> tuple[list[int], list[int]]:
    """The indexes of the items to process now, and of those to process after them, in a
    later transaction: a command naming a payment (a refund's original, a capture's or
    void's authorization) that an earlier command of the batch, with another payment id,
    creates or names too, or that a deferred command creates; and every command sharing a
    payment id with one deferred. A repeat of a payment id processed now stays with it,
    whatever it names: its outcome is its first occurrence's (a replay, or a conflict if
    the request differs).

    Planned in one transaction, an earlier command's effect would count before the ledger
    decides on it: a refund the ledger refuses would still use up the original for the
    next refund, a refused capture would still block a void. Processed after it, the
    later command sees what the earlier one did. The first item is always processed now,
    so every round makes progress. Pure."""
    now: list[int] = []
    later: list[int] = []
    now_ids: set[str] = set()
    deferred_ids: set[str] = set()
    # A payment created or named by a command processed now -> that command's payment id.
    taken: dict[str, str] = {}
    for index, item in enumerate(items):
        if isinstance(item, PaymentOutcome):
            now.append(index)
            continue
        payment_id, named = item.command.payment_id, _named_payment(item.command)
        if payment_id in now_ids:
            now.append(index)
            continue
        waits = named is not None and (
            taken.get(named, payment_id) != payment_id or named in deferred_ids
        )
        if waits or payment_id in deferred_ids:
            deferred_ids.add(payment_id)
            later.append(index)
            continue
        now.append(index)
        now_ids.add(payment_id)
        taken.setdefault(payment_id, payment_id)
        if named is not None:
            taken.setdefault(named, payment_id)
    assert not items or now[0] == 0, "the first item is always processed now"
    return now, later


def _named_payment(command: PaymentCommand) -> str | None:
    if isinstance(command, Refund):
        return command.original_payment_id
    if isinstance(command, Capture | Void):
        return command.authorization_id
    return None


def process_parsed(
    conn: Connection,
    items: Sequence[ParsedCommand | PaymentOutcome],
    settings: BatchSettings,
) -> list[PaymentOutcome | None]:
    """Process in the caller's transaction the items that need no other item's outcome,
    and commit; one outcome per item, in order, None for an item that waits for a later
    transaction (`split_dependents`): the caller sends it again. Nothing may use `conn`
    afterwards but the caller's own commit.

    Items come from `parse_or_refuse`, called before the transaction (decoding then does
    not lengthen it); a refusal among them is passed through as its outcome."""
    ready, _waiting = split_dependents(items)
    outcomes: list[PaymentOutcome | None] = [None] * len(items)
    parsed: dict[int, ParsedCommand] = {}
    for index in ready:
        item = items[index]
        if isinstance(item, PaymentOutcome):
            outcomes[index] = item
        else:
            parsed[index] = item
    load = load_named(conn, list(parsed.values()), settings.calendar)
    ctx = RoutingContext(
        coops=load.coops,
        network=load.network,
        members=load.members,
        merchants=load.merchants,
        payments=load.payments,
        schedules=settings.schedules(conn, load.schedule_version),
        business_date=load.window_date,
        now=load.now,
        merchant_criteria=load_merchant_criteria(
            conn, {p.merchant_id for p in load.payments.values() if p.merchant_id is not None}
        ),
        hold_expires_at=load_hold_expiry(conn, load.payments.values()),
        payer_member_ids=load.payers,
    )
    now, window_date = load.now, load.window_date
    plans = _plan_all(parsed, ctx, outcomes)
    spent_today = {m: spent for (m, day), spent in load.daily.items() if day == window_date}
    accepted, planned = _post_within_daily_limits(
        conn, plans, ctx, spent_today, settings.seal_key, outcomes
    )
    # The totals a release takes from were locked with the day's, in key order, at the load.
    assert all(
        (r.member_id, r.business_date) in load.daily
        for r in (plans[i].released for i in accepted)
        if r is not None
    )
    records = _write(conn, planned, [plans[i] for i in accepted], now, window_date)
    for index, record in zip(accepted, records, strict=True):
        outcomes[index] = PaymentOutcome(record.payment_id, record)
    _fill_repeats(parsed, outcomes)
    assert all(outcomes[i] is not None for i in ready)
    return outcomes


def load_named(
    conn: Connection, parsed: Sequence[ParsedCommand], calendar: WindowCalendar
) -> BatchLoad:
    """Join the window and load what the commands name, and nothing else: their members,
    merchants and payments, and only the coops these (or cash counters) belong to, with the
    network. Two round trips on PostgreSQL."""
    member_ids: set[int] = set()
    merchant_ids: set[str] = set()
    referenced: set[str] = set()
    counter_coop_ids: set[int] = set()
    for item in parsed:
        command = item.command
        if isinstance(command, QrPurchase | Authorize):
            member_ids.add(command.payer_member_id)
        elif isinstance(command, CashIn | CashOut):
            member_ids.add(command.member_id)
            counter_coop_ids.add(command.counter_coop_id)
        elif isinstance(command, Transfer):
            member_ids.update((command.payer_member_id, command.payee_member_id))
        elif isinstance(command, Refund):
            referenced.add(command.original_payment_id)
        elif isinstance(command, Capture | Void):
            referenced.add(command.authorization_id)
        if item.qr is not None:
            merchant_ids.add(item.qr.merchant_network_id)
    # A named payment no payment can be is not looked up: its command finds none.
    referenced = storable_payment_ids(referenced)
    requested = {p.command.payment_id for p in parsed}
    if conn.dialect.name == "postgresql":
        return load_batch(
            conn,
            calendar,
            referenced=referenced,
            requested=requested,
            member_ids=member_ids,
            merchant_ids=merchant_ids,
            coop_ids=counter_coop_ids,
        )
    now, window_date = enter_window(conn, calendar)
    payments = load_payments(conn, referenced, lock=True)
    originals = [payments[p] for p in referenced if p in payments]
    payers = load_payers(conn, originals)
    payments.update(load_payments(conn, requested - referenced))
    members = load_members(conn, member_ids)
    merchants = load_merchants(conn, merchant_ids)
    named = counter_coop_ids | {m.coop_id for m in members.values()}
    named.update(m.coop_id for m in merchants.values())
    named.update(c for p in originals for c in (p.issuer_coop_id, p.acquirer_coop_id))
    coops, network = load_coops(conn, named)
    return BatchLoad(
        now,
        window_date,
        payments,
        coops,
        network,
        members,
        merchants,
        load_schedule_version(conn),
        payers,
        lock_daily(conn, member_ids, window_date, releasable_keys(originals, payers)),
    )


def _plan_all(
    parsed: dict[int, ParsedCommand],
    ctx: RoutingContext,
    outcomes: list[PaymentOutcome | None],
) -> dict[int, PaymentPlan]:
    """Plan each payment id's first command; the commands are independent of each other
    (`split_dependents`), so each is planned from what was recorded before the batch."""
    plans: dict[int, PaymentPlan] = {}
    seen: set[str] = set()
    for index, item in parsed.items():
        payment_id = item.command.payment_id
        if payment_id in seen:
            continue
        seen.add(payment_id)
        try:
            planned = plan_payment(item, ctx)
        except (InterchangeError, LedgerError) as error:
            outcomes[index] = _refused(payment_id, error)
            continue
        if isinstance(planned, PaymentRecord):
            outcomes[index] = PaymentOutcome(payment_id, planned, replayed=True)
            continue
        plans[index] = planned
    return plans


def _post_within_daily_limits(
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


def _write(
    conn: Connection,
    planned: PlannedEntries | None,
    plans: list[PaymentPlan],
    now: datetime,
    window_date: date,
) -> list[PaymentRecord]:
    """Write the ledger's planned batch, record the accepted payments and their effects,
    and commit; return the payment records."""
    spent: defaultdict[int, int] = defaultdict(int)
    refunds: defaultdict[str, int] = defaultdict(int)
    statuses: dict[str, PaymentStatus] = {}
    for plan in plans:
        if plan.daily_member_id is not None:
            spent[plan.daily_member_id] += plan.daily_minor
        if plan.refund_of is not None:
            refunds[plan.refund_of] += plan.draft.amount.amount_minor
        if plan.resolves is not None and plan.resolution is not None:
            statuses[plan.resolves] = plan.resolution
    rows = payment_rows(plans, now, window_date)
    owed = obligation_rows((d for plan in plans for d in plan.obligations), window_date)
    daily = daily_rows(spent, window_date)
    released = release_rows(plan.released for plan in plans if plan.released is not None)
    # Through SQLAlchemy, so before the pipeline `commit_with` opens on PostgreSQL.
    resolve_payments(conn, refunds, statuses)

    def writes() -> None:
        if planned is not None:
            write_planned(conn, planned)
        if conn.dialect.name == "postgresql":
            write_batch(conn, rows, owed, daily, released)
        else:
            insert_payments(conn, rows)
            add_obligations(conn, owed)
            add_daily(conn, daily)
            release_daily(conn, released)

    commit_with(conn, writes)
    return records_of(rows)


def _fill_repeats(parsed: dict[int, ParsedCommand], outcomes: list[PaymentOutcome | None]) -> None:
    """A command repeated in the batch gets its first occurrence's outcome."""
    first: dict[str, int] = {}
    for index in sorted(parsed):
        payment_id = parsed[index].command.payment_id
        if payment_id not in first:
            first[payment_id] = index
            continue
        original = outcomes[first[payment_id]]
        assert original is not None
        if parsed[first[payment_id]].request_json != parsed[index].request_json:
            outcomes[index] = PaymentOutcome(
                payment_id,
                None,
                _CODE.PAYMENT_EXISTS_WITH_DIFFERENT_REQUEST,
                "payment_id was used for a different request",
            )
        else:
            outcomes[index] = replace(original, replayed=original.ok)
