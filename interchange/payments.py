"""The payment service: what merchants, tellers and members call to move money.

Single commands share transactions through a group committer (like the ledger's), so
thousands of concurrent payments cost a few hundred commits; `submit_batch` runs a batch in
one transaction. A command that must see an earlier command's outcome (a second refund of
one purchase) waits for the next transaction: `submit_batch` runs one more, and a caller
of `submit` sends its command again, into a later group. Every command is idempotent by
its `payment_id`. Fee schedules are published as new versions, never edited; the service
re-reads them when a newer version appears, so every process sees a publication at its
next batch.

A failure of the transaction itself, rather than a refusal of one command, is raised as a
`LedgerError` with its code, as the ledger's service raises it: `lock_wait_timeout` when a
row a command needs (a wallet, a cooperative's account, a daily total) stayed locked by
another transaction past the lock timeout, `contention_retries_exhausted`, and the group
committer's `outcome_unknown` and `service_closed`. A lock wait is not retried: nothing of
the transaction was recorded, and the command sent again later with the same id is
recorded once. Sharing a group-commit batch with a command that waits on a locked row
does not fail a command that touches none (`ledger.group_commit`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, select, update

from interchange.daily_totals import release_daily, release_rows
from interchange.enum_text import enum_member
from interchange.fee_publishing import publish_schedule_in
from interchange.fee_schedule import (
    FeeError,
    FeeErrorCode,
    FeeSchedule,
    MerchantCriteria,
    PaymentType,
)
from interchange.fees import Quote, quote, schedule_in_force
from interchange.payment_batch import BatchSettings, parse_or_refuse, process_parsed
from interchange.payment_model import (
    PaymentCommand,
    PaymentError,
    PaymentErrorCode,
    PaymentKind,
    PaymentOutcome,
    PaymentRecord,
    PaymentStatus,
    storable_payment_ids,
)
from interchange.payment_records import load_payments, record_from_row
from interchange.payment_store import load_schedule_version, load_schedules
from interchange.quoting import quote_parsed
from interchange.routing_authorizations import released_allowance
from interchange.routing_checks import covered, deposit_quote, require_within_limit
from interchange.routing_model import ParsedCommand
from interchange.tables import member_wallet, payment
from interchange.window import WindowCalendar
from ledger.db import run_transaction
from ledger.entry import EntryKind
from ledger.group_commit import (
    ANSWER_WAIT_S_DEFAULT,
    ANSWER_WAIT_S_MAX,
    GroupCommitter,
    answer_within,
)
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import entry

__all__ = ["BATCH_COMMANDS_MAX", "Payments"]

BATCH_COMMANDS_MAX = 2000
# A payment recorded by a concurrent transaction after this one looked: retrying replays it.
_PAYMENT_RACES = frozenset({"uq_interchange_payment_payment_id"})
_Known = TypeVar("_Known", PaymentType, MerchantCriteria)


class Payments:
    """QR purchases, authorizations, cash in and out, transfers and refunds."""

    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        *,
        seal_key: bytes,
        calendar: WindowCalendar,
        workers: int = 2,
        answer_wait_s: float = ANSWER_WAIT_S_DEFAULT,
    ) -> None:
        assert 0 < answer_wait_s <= ANSWER_WAIT_S_MAX
        self.engine = engine
        self._answer_wait_s = answer_wait_s
        self._ledger = ledger
        self._schedules: tuple[int, list[FeeSchedule]] = (0, [])
        self._schedules_lock = threading.Lock()
        self._settings = BatchSettings(seal_key, calendar, self._current_schedules)
        self._committer: GroupCommitter[ParsedCommand, PaymentOutcome | None] = GroupCommitter(
            self._submit_parsed,
            batch_size_max=BATCH_COMMANDS_MAX,
            workers=workers,
            name="payment-commit",
        )

    def close(self) -> None:
        """Finish queued payments and stop the worker threads."""
        self._committer.close()

    def submit(self, command: PaymentCommand) -> PaymentOutcome:
        """Process one command, sharing a transaction with concurrent callers. Raises
        `LedgerError` `outcome_unknown` when no answer came within `answer_wait_s`: the
        payment may yet be recorded, and the command sent again (same id) says so;
        `service_closed`, at once, after `close`: nothing was or will be recorded; and
        `lock_wait_timeout` when a row it needs stayed locked past the lock timeout:
        nothing was recorded, and sending it again later is safe."""
        # Checked and decoded here, in the caller's thread: a malformed command is refused
        # without a transaction, and the shared transaction does not wait on decoding.
        item = parse_or_refuse(command)
        if isinstance(item, PaymentOutcome):
            return item
        deadline = time.monotonic() + self._answer_wait_s
        while True:
            # Keyed by its id: sent again while the first copy is still queued or in
            # flight (after `outcome_unknown`), it gets that copy's answer.
            answer = self._committer.submit([item], key=item.command.payment_id)
            left_s = deadline - time.monotonic()
            (outcome,) = answer_within(answer, left_s, wait_s=self._answer_wait_s)
            if outcome is not None:
                return outcome
            # It named a payment another caller's command in its batch named first:
            # submitted again, it joins a later batch and sees that command's outcome.

    def pay(self, command: PaymentCommand) -> PaymentRecord:
        """Process one command; return its record or raise `PaymentError` with the code
        (`LedgerError` `outcome_unknown`, `service_closed` and `lock_wait_timeout` as
        `submit`)."""
        outcome = self.submit(command)
        if outcome.payment is None:
            assert outcome.code is not None
            message = outcome.message or outcome.code.value
            raise PaymentError(outcome.code, message, field=outcome.field)
        return outcome.payment

    def submit_batch(self, commands: Sequence[PaymentCommand]) -> list[PaymentOutcome]:
        """Process up to `BATCH_COMMANDS_MAX` commands in one transaction, in order; a
        command that names a payment an earlier one creates or names (a second refund of
        one purchase, a void after a capture) goes in a following one, after it. If a
        later transaction fails (a `LedgerError` such as `lock_wait_timeout`, raised),
        the earlier ones stay committed: sent again, the batch replays them. An empty
        batch is `batch_empty`, one over the limit `batch_too_large`: raised, nothing
        processed."""
        if not commands:
            raise PaymentError(PaymentErrorCode.BATCH_EMPTY, "a batch needs at least one command")
        if len(commands) > BATCH_COMMANDS_MAX:
            message = f"a batch holds at most {BATCH_COMMANDS_MAX} commands"
            raise PaymentError(PaymentErrorCode.BATCH_TOO_LARGE, message)
        items = [parse_or_refuse(c) for c in commands]
        refusals = [i for i in items if isinstance(i, PaymentOutcome)]
        if len(refusals) == len(items):
            return refusals  # nothing well-formed: no transaction, as in `submit`
        outcomes: list[PaymentOutcome | None] = [None] * len(items)
        remaining = list(range(len(items)))
        while remaining:
            results = self._submit_parsed([items[i] for i in remaining])
            for i, outcome in zip(remaining, results, strict=True):
                outcomes[i] = outcome
            left = [i for i in remaining if outcomes[i] is None]
            assert len(left) < len(remaining), "every round answers at least one command"
            remaining = left
        return [o for o in outcomes if o is not None]

    def _submit_parsed(
        self, items: Sequence[ParsedCommand | PaymentOutcome]
    ) -> list[PaymentOutcome | None]:
        """Process in one transaction the items that need no other's outcome; None for
        the others (`process_parsed`), which the caller submits again."""
        return run_transaction(
            self.engine,
            lambda conn: process_parsed(conn, items, self._settings),
            race_constraints=_PAYMENT_RACES,
        )

    def payment(self, payment_id: str) -> PaymentRecord:
        """A recorded payment by its id; `original_not_found` for one never recorded, or an
        id no payment can have (not looked up)."""
        ids = storable_payment_ids([payment_id])
        found = run_transaction(self.engine, lambda conn: load_payments(conn, ids))
        if payment_id not in found:
            raise PaymentError(PaymentErrorCode.ORIGINAL_NOT_FOUND, f"no payment {payment_id!r}")
        return found[payment_id]

    def quote(
        self,
        amount: Money,
        payment_type: PaymentType,
        issuer_coop_id: int,
        acquirer_coop_id: int,
        *,
        merchant_criteria: MerchantCriteria | None = None,
        business_date: date | None = None,
    ) -> Quote:
        """What a payment would cost, before the payer confirms it. Checked first, in
        order: an amount that is not `Money` is `fee_amount_invalid`; a payment type or
        merchant criteria the schedules do not know (given as the enum or its text),
        `fee_payment_type_invalid` and `fee_criteria_invalid`; a business date that is not
        a plain date (a datetime, say), `fee_business_date_invalid`. Then as `quote`; last,
        what the payer would pay over the per-payment limit is `amount_over_limit`, as the
        payment would be. The cooperatives' statuses are not looked at: `quote_command`
        quotes a command as its payment would be charged, parties and code included."""
        if not isinstance(amount, Money):
            message = "the amount must be money"
            raise FeeError(FeeErrorCode.FEE_AMOUNT_INVALID, message, field="amount")
        payment_type = _known(
            PaymentType, payment_type, FeeErrorCode.FEE_PAYMENT_TYPE_INVALID, "payment_type"
        )
        if merchant_criteria is not None:
            merchant_criteria = _known(
                MerchantCriteria,
                merchant_criteria,
                FeeErrorCode.FEE_CRITERIA_INVALID,
                "merchant_criteria",
            )
        if business_date is not None and type(business_date) is not date:
            message = "the business date must be a date, without a time"
            raise FeeError(FeeErrorCode.FEE_BUSINESS_DATE_INVALID, message, field="business_date")
        day = business_date or self._settings.calendar.window_date(datetime.now(UTC))
        schedules = run_transaction(self.engine, self._current_schedules)
        priced = quote(
            amount,
            payment_type,
            schedule_in_force(schedules, day),
            issuer_coop_id,
            acquirer_coop_id,
            merchant_criteria,
        )
        priced = deposit_quote(priced) if payment_type is PaymentType.CASH_IN else covered(priced)
        require_within_limit(priced.payer_pays.amount_minor)
        return priced

    def quote_command(self, command: PaymentCommand) -> Quote:
        """What `command` would be charged if it were submitted now, recording nothing:
        the fee quote of its plan (`interchange.quoting`), so a code's tip or convenience
        fee, the fee schedule in force and the per-payment limit (fee included) count as
        they do for the payment. Raises the `InterchangeError` the payment would be refused
        with before the ledger (a `PaymentError`, or a `FeeError` such as
        `fee_schedule_missing`), and `payment_not_quotable` for a capture, void or refund
        (their price is the authorization's or the original's). Balances, daily
        limits and net debit caps are checked when the payment is made."""
        item = parse_or_refuse(command)
        if isinstance(item, PaymentOutcome):
            assert item.code is not None
            raise PaymentError(item.code, item.message or item.code.value, field=item.field)
        now = datetime.now(UTC)
        day = self._settings.calendar.window_date(now)
        return run_transaction(
            self.engine,
            lambda conn: quote_parsed(conn, item, self._current_schedules(conn), day, now),
        )

    def publish_schedule(self, schedule: FeeSchedule) -> FeeSchedule:
        """Publish a new schedule version (idempotent for an equal schedule), refused as
        `interchange.fee_publishing` says."""
        return run_transaction(self.engine, lambda conn: publish_schedule_in(conn, schedule))

    def expire_authorizations(self) -> int:
        """Release expired holds in the ledger, then mark their authorizations expired and
        give their payers' daily allowance back; return how many were marked."""
        while self._ledger.expire_holds() > 0:
            pass
        return run_transaction(self.engine, _mark_expired)

    def _current_schedules(self, conn: Connection, newest: int | None = None) -> list[FeeSchedule]:
        if newest is None:
            newest = load_schedule_version(conn)
        with self._schedules_lock:
            if self._schedules[0] != newest:
                self._schedules = (newest, load_schedules(conn))
            return self._schedules[1]


def _known(kind: type[_Known], value: object, code: FeeErrorCode, field: str) -> _Known:
    """`value` as a member of `kind` (its text is accepted too); otherwise `code`: a quote
    must not be priced as one type and shaped as another."""
    member = enum_member(kind, value)
    if member is None:
        names = ", ".join(m.value for m in kind)
        raise FeeError(code, f"the {field.replace('_', ' ')} must be one of {names}", field=field)
    return member


def _mark_expired(conn: Connection) -> int:
    """Mark expired the authorizations whose hold the ledger expired, and give back the
    daily allowance each counted; return how many. Locks as a payment batch does: the
    authorizations in id order, then the daily totals in key order."""
    expired = _expired_authorizations(conn)
    releases = (released_allowance(auth, member_id, None) for auth, member_id in expired)
    release_daily(conn, release_rows(r for r in releases if r is not None))
    if expired:
        ids = sorted(auth.payment_id for auth, _ in expired)
        conn.execute(
            update(payment)
            .where(payment.c.payment_id.in_(ids))
            .values(status=PaymentStatus.EXPIRED.value)
        )
    return len(expired)


def _expired_authorizations(conn: Connection) -> list[tuple[PaymentRecord, int]]:
    """The authorizations still open whose hold the ledger expired, with the member each
    holds from; locked `FOR UPDATE`, so that a sweeper running at the same time waits and
    then finds them marked."""
    expired = entry.alias("expired")
    held = entry.alias("held")
    query = (
        select(payment, member_wallet.c.member_id)
        .join(held, held.c.entry_id == payment.c.entry_id)
        .join(expired, expired.c.target_seq == held.c.seq)
        .outerjoin(member_wallet, member_wallet.c.account_id == payment.c.payer_account_id)
        .where(
            payment.c.kind == PaymentKind.AUTHORIZATION.value,
            payment.c.status == PaymentStatus.AUTHORIZED.value,
            expired.c.kind == EntryKind.EXPIRE_PENDING.value,
        )
        .order_by(payment.c.id)
        .with_for_update(of=payment)
    )
    found = [(record_from_row(row), row.member_id) for row in conn.execute(query)]
    assert all(member_id is not None for _, member_id in found), "held from a member's wallet"
    return found
