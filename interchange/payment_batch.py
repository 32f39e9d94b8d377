"""One transaction for a batch of payment commands: route, check limits, post, record.

Each command succeeds or fails on its own; a failed one records nothing, neither in the
ledger nor here. Steps: parse (QR decoded once), join the window, load the parties and the
payments named (`interchange.batch_loading`), plan each command (pure), hold the daily
limits, plan every entry through the ledger in one call (which locks its accounts,
`interchange.batch_posting`), then write the ledger's entries, the payment rows,
obligations, daily totals (what the payments spend, less what the voids and captures for
less give back), refunded amounts and authorization states for the payments the ledger
accepted, and commit. On PostgreSQL the ledger's writes, the payment rows, the refunded
amounts and authorization states (of rows the load locked) and the COMMIT go in one round
trip, so the accounts stay locked for one trip after planning; what routing needs of the
authorizations named (their payers, their merchants' criteria, when their holds expire)
comes with the load. A command repeated within the batch gets the first one's outcome; one
that differs is a replay if it is the payment recorded under its id before the batch, and
a conflict otherwise (`_fill_repeats`). Commands that must see another's outcome (a second refund of
one purchase, a void after a capture) are not in the same batch: the service runs them in
the next transaction (`interchange.batch_dependents`), once the ledger has decided.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Connection

from interchange.batch_dependents import split_dependents
from interchange.batch_loading import load_named
from interchange.batch_posting import post_within_daily_limits
from interchange.daily_totals import add_daily, daily_rows, release_daily, release_rows
from interchange.errors import InterchangeError
from interchange.fee_schedule import FeeSchedule
from interchange.payment_model import (
    PaymentCommand,
    PaymentErrorCode,
    PaymentOutcome,
    PaymentRecord,
    PaymentStatus,
)
from interchange.payment_records import insert_payments, payment_rows, records_of, resolve_payments
from interchange.payment_store import add_obligations, obligation_rows
from interchange.payment_store_pg import write_batch
from interchange.routing import (
    ParsedCommand,
    PaymentPlan,
    RoutingContext,
    parse_command,
    plan_payment,
)
from interchange.window import WindowCalendar
from ledger.db import commit_with
from ledger.errors import LedgerError
from ledger.posting import PlannedEntries, write_planned

__all__ = ["BatchSettings", "parse_or_refuse", "process_parsed"]


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """What a payment batch needs besides its commands."""

    seal_key: bytes
    calendar: WindowCalendar
    # The schedules published up to the given newest version.
    schedules: Callable[[Connection, int], Sequence[FeeSchedule]]


def _refused(payment_id: str, error: InterchangeError | LedgerError) -> PaymentOutcome:
    return PaymentOutcome(payment_id, None, error.code, error.message, field=error.field)


def parse_or_refuse(command: PaymentCommand) -> ParsedCommand | PaymentOutcome:
    """The command checked and its QR decoded, or its refusal: pure, no database."""
    try:
        return parse_command(command)
    except (InterchangeError, LedgerError) as error:
        return _refused(str(command.payment_id), error)


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
    split = split_dependents(items)
    outcomes: list[PaymentOutcome | None] = [None] * len(items)
    parsed: dict[int, ParsedCommand] = {}
    for index in split.now:
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
        merchant_criteria=load.merchant_criteria,
        hold_expires_at=load.hold_expires_at,
        payer_member_ids=load.payers,
    )
    now, window_date = load.now, load.window_date
    first = split.first
    assert first.keys() == parsed.keys(), "a first occurrence for each command processed now"
    plans = _plan_all(parsed, first, ctx, outcomes)
    spent_today = {m: spent for (m, day), spent in load.daily.items() if day == window_date}
    accepted, planned = post_within_daily_limits(
        conn, plans, ctx, spent_today, settings.seal_key, outcomes
    )
    # The totals a release takes from were locked with the day's, in key order, at the load,
    # and so were the originals a refund adds to and the authorizations resolved.
    assert all(
        (r.member_id, r.business_date) in load.daily
        for r in (plans[i].released for i in accepted)
        if r is not None
    )
    assert all(
        changed in load.locked
        for changed in (c for i in accepted for c in (plans[i].refund_of, plans[i].resolves))
        if changed is not None
    )
    records = _write(conn, planned, [plans[i] for i in accepted], now, window_date)
    for index, record in zip(accepted, records, strict=True):
        outcomes[index] = PaymentOutcome(record.payment_id, record)
    _fill_repeats(parsed, first, outcomes, load.payments)
    assert all(outcomes[i] is not None for i in split.now)
    return outcomes


def _plan_all(
    parsed: dict[int, ParsedCommand],
    first: dict[int, int],
    ctx: RoutingContext,
    outcomes: list[PaymentOutcome | None],
) -> dict[int, PaymentPlan]:
    """Plan each payment id's first command (`first_occurrences`); the commands are
    independent of each other (`split_dependents`), so each is planned from what was
    recorded before the batch."""
    plans: dict[int, PaymentPlan] = {}
    for index, item in parsed.items():
        if first[index] != index:
            continue
        payment_id = item.command.payment_id
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

    def writes() -> None:
        if planned is not None:
            write_planned(conn, planned)
        if conn.dialect.name == "postgresql":
            write_batch(conn, rows, owed, daily, released, refunds, statuses)
        else:
            resolve_payments(conn, refunds, statuses)
            insert_payments(conn, rows)
            add_obligations(conn, owed)
            add_daily(conn, daily)
            release_daily(conn, released)

    commit_with(conn, writes)
    return records_of(rows)


def _fill_repeats(
    parsed: dict[int, ParsedCommand],
    first: dict[int, int],
    outcomes: list[PaymentOutcome | None],
    recorded: Mapping[str, PaymentRecord],
) -> None:
    """A command repeated in the batch exactly as its first occurrence (`first_occurrences`)
    gets that occurrence's outcome, a replay if it was recorded. One that differs from its
    first occurrence is judged against the payment recorded under its id before the batch,
    if any (a replay when it is that payment's request, as the first occurrence would be),
    and is otherwise `payment_exists_with_different_request` naming `payment_id`: one
    batch carries one request per id, even when the first was refused."""
    for index, first_index in first.items():
        if first_index == index:
            continue
        payment_id = parsed[index].command.payment_id
        original = outcomes[first_index]
        assert original is not None
        if parsed[first_index].request_json == parsed[index].request_json:
            outcomes[index] = replace(original, replayed=original.ok)
            continue
        before = recorded.get(payment_id)
        if before is not None and before.request_json == parsed[index].request_json:
            outcomes[index] = PaymentOutcome(payment_id, before, replayed=True)
            continue
        outcomes[index] = PaymentOutcome(
            payment_id,
            None,
            PaymentErrorCode.PAYMENT_EXISTS_WITH_DIFFERENT_REQUEST,
            "payment_id was used for a different request",
            field="payment_id",
        )
