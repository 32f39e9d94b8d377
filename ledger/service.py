"""The ledger's service boundary: one unit of work per command, bounded retries.

`Ledger` is what the rest of kopnet calls. Single entries go through a group committer, so
concurrent callers share transactions (and fsyncs); batches go straight to one transaction.
A batch's writes and its COMMIT go to PostgreSQL in one round trip. Every command is
idempotent by its caller-supplied id, safe to retry after a timeout, a dropped connection
or a crash. The service starts its worker threads when constructed and stops them on
`close()`; nothing happens at import time. Opening an account and changing its status
write its terms digest (`ledger.digest.account_terms_digest`) in the same transaction,
and a status change appends an event to the account history (`ledger.account_events`);
postings never do either, since balances are not among the terms. Before its first write, seal or
audit, the service checks its sealing key against the fingerprint the database recorded
(`ledger.seal_key`, `seal_key_mismatch`), once; a refused key writes nothing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    insert,
    select,
    text,
    tuple_,
    update,
)

from ledger.account import Account, AccountSpec, AccountStatus
from ledger.account_events import record_status_change
from ledger.audit import AuditReport, ChainAnchor, verify_ledger
from ledger.db import commit_with, reading, run_transaction
from ledger.digest import account_terms_digest
from ledger.entry import Entry, EntryKind, EntryOutcome, EntryRequest, expiry_entry_id
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.group_commit import (
    ANSWER_WAIT_S_DEFAULT,
    ANSWER_WAIT_S_MAX,
    Answer,
    GroupCommitter,
    answer_within,
)
from ledger.money import Money
from ledger.posting import check_batch_size, plan_entries, write_planned
from ledger.seal_key import check_seal_key, recorded_seal_key, require_seal_key
from ledger.sealing import seal_entries
from ledger.statements import StatementPage, account_statement, balance_as_of
from ledger.store import is_row_id, load_entries, lock_accounts, row_to_account
from ledger.tables import account, entry
from ledger.terms_baseline import record_unversioned_terms
from ledger.terms_sealing import TERMS_SEAL_BATCH_MAX, TermsSealing, seal_listed_terms
from ledger.validation import BATCH_SIZE_MAX, storable_entry_ids

__all__ = [
    "EXPIRY_ALONE_LOCK_WAIT_MS",
    "Ledger",
    "is_empty",
    "open_account_in",
    "raise_for_outcome",
    "set_account_status_in",
    "set_accounts_status_in",
    "set_locked_accounts_status",
]

T = TypeVar("T")

# How long an expiry released alone, after its sweep's batch waited past the lock timeout,
# waits for a lock: each hold on a locked account costs the sweep this, not the timeout.
EXPIRY_ALONE_LOCK_WAIT_MS = 200
# The transaction's lock timeout lowered to at most `wait` (zero, "no timeout", included);
# `setting` is the same value as text (one parameter would be typed by its first use).
_SHORTER_LOCK_WAIT = text(
    "SELECT set_config('lock_timeout', CASE WHEN current_setting('lock_timeout') <> '0'"
    " AND current_setting('lock_timeout')::interval < CAST(:wait AS interval)"
    " THEN current_setting('lock_timeout') ELSE CAST(:setting AS text) END, true)"
)


def raise_for_outcome(outcome: EntryOutcome) -> Entry:
    """Return the recorded entry, or raise the outcome's error."""
    if outcome.code is not None:
        raise LedgerError(
            LedgerErrorCode(outcome.code),
            outcome.message or outcome.code,
            field=outcome.field,
            account_id=outcome.account_id,
        )
    assert outcome.entry is not None
    return outcome.entry


class Ledger:
    """Accounts, entries, balances and audit over one database."""

    def __init__(
        self,
        engine: Engine,
        *,
        seal_key: bytes,
        group_commit_workers: int = 2,
        attempts_max: int = 8,
        answer_wait_s: float = ANSWER_WAIT_S_DEFAULT,
    ) -> None:
        assert seal_key, "a sealing key is required"
        assert 0 < answer_wait_s <= ANSWER_WAIT_S_MAX
        self.engine = engine
        self._seal_key = seal_key
        self._seal_key_checked = False
        self._seal_key_lock = threading.Lock()
        self._attempts_max = attempts_max
        self._answer_wait_s = answer_wait_s
        self._committer: GroupCommitter[EntryRequest, EntryOutcome] = GroupCommitter(
            self.post_batch,
            batch_size_max=BATCH_SIZE_MAX,
            workers=group_commit_workers,
            name="ledger-commit",
        )

    def close(self) -> None:
        """Finish queued work and stop the group committer's threads; a `post` or
        `post_linked` after it is `service_closed`, refused at once."""
        self._committer.close()

    def check_seal_key(self) -> None:
        """Check the sealing key against the fingerprint the database recorded, recording
        it if none is (once what is stored verifies under the key), once per service. A
        key that is not the database's is `seal_key_mismatch`, checked again at the next
        use. Every write, seal and audit runs it first."""
        if self._seal_key_checked:
            return
        with self._seal_key_lock:
            if not self._seal_key_checked:
                # A recorded fingerprint needs only a read (on SQLite, without the write
                # lock: an audit must not wait for writers); a first record, a write.
                with reading(self.engine) as conn:
                    recorded = recorded_seal_key(conn)
                if recorded is None:
                    now = datetime.now(UTC)
                    self._run(lambda conn: check_seal_key(conn, self._seal_key, now))
                else:
                    require_seal_key(recorded, self._seal_key)
                self._seal_key_checked = True

    def _answer(self, answer: Answer[T]) -> T:
        return answer_within(answer, self._answer_wait_s, wait_s=self._answer_wait_s)

    def _run(self, work: Callable[[Connection], T]) -> T:
        return run_transaction(self.engine, work, attempts_max=self._attempts_max)

    # Accounts

    def open_account(self, spec: AccountSpec) -> Account:
        """Open an account, or return the one already opened with this ref and spec."""
        spec = spec.validated()
        self.check_seal_key()
        return self._run(lambda conn: open_account_in(conn, spec, seal_key=self._seal_key))

    def account(self, account_id: int) -> Account:
        """Return the account with its current balances."""
        query = select(account).where(account.c.id == account_id)
        row = self._run(lambda conn: conn.execute(query).first()) if is_row_id(account_id) else None
        if row is None:
            raise LedgerError(LedgerErrorCode.ACCOUNT_NOT_FOUND, f"no account {account_id}")
        return row_to_account(row)

    def set_account_status(self, account_id: int, status: AccountStatus) -> Account:
        """Freeze, unfreeze or close an account; closing needs zero balances and no holds."""
        self.check_seal_key()
        key = self._seal_key
        return self._run(lambda conn: set_account_status_in(conn, account_id, status, seal_key=key))

    # Entries

    def post(self, request: EntryRequest) -> Entry:
        """Record one entry (sharing a transaction with concurrent callers); raise on refusal,
        `outcome_unknown` when no answer came within `answer_wait_s`, and `service_closed`
        after `close`."""
        self.check_seal_key()
        # A lone request must not link to whichever caller's request follows it in the batch.
        alone = _with_link(request, False)
        # Keyed by its id: sent again while the first copy is still queued or in flight
        # (after `outcome_unknown`), it gets that copy's answer (`ledger.group_commit`).
        key = alone.entry_id if isinstance(alone.entry_id, str) else None
        (outcome,) = self._answer(self._committer.submit([alone], key=key))
        return raise_for_outcome(outcome)

    def post_linked(self, requests: Sequence[EntryRequest]) -> list[EntryOutcome]:
        """Record `requests` all or nothing; each outcome says why, when nothing was.
        `outcome_unknown` and `service_closed` as for `post`."""
        check_batch_size(len(requests))
        self.check_seal_key()
        linked = [_with_link(r, i < len(requests) - 1) for i, r in enumerate(requests)]
        ids = tuple(r.entry_id for r in linked)
        # An id that is not text is refused by the batch's checks; it keys nothing.
        key = ids if all(isinstance(i, str) for i in ids) else None
        return self._answer(self._committer.submit(linked, key=key))

    def post_batch(self, requests: Sequence[EntryRequest]) -> list[EntryOutcome]:
        """Record a batch in one transaction; each request succeeds or fails on its own."""
        self.check_seal_key()
        return list(self._run(lambda conn: _post_and_commit(conn, requests, self._seal_key)))

    def entry(self, entry_id: str) -> Entry:
        """Return a recorded entry by its id."""
        found = self._run(lambda conn: load_entries(conn, storable_entry_ids([entry_id])))
        if entry_id not in found:
            raise LedgerError(LedgerErrorCode.ENTRY_NOT_FOUND, f"no entry {entry_id!r}")
        return found[entry_id]

    def expire_holds(self, *, limit: int = 1000) -> int:
        """Release holds whose timeout has passed, oldest first, `limit` to a transaction;
        return how many were expired now (0: none is left that can be). A limit that is
        not an integer in 1..`BATCH_SIZE_MAX` is `limit_invalid`, raised before anything is
        read. If a transaction waits past the lock timeout on an account another session
        holds, its holds are released one at a time instead; those whose accounts stay
        locked are left due for a later sweep, and the sweep goes on past them to the
        next `limit`: one locked account does not keep every other hold reserved."""
        if type(limit) is not int or not 1 <= limit <= BATCH_SIZE_MAX:
            message = f"the limit must be an integer in 1..{BATCH_SIZE_MAX}"
            raise LedgerError(LedgerErrorCode.LIMIT_INVALID, message, field="limit")
        self.check_seal_key()
        now = datetime.now(UTC)
        released, after = 0, None
        while True:
            due = self._run(functools.partial(_read_all, _due_holds(now, limit, after)))
            if not due:
                return released
            requests = [_expiry(row.entry_id, row.expires_at) for row in due]
            try:
                outcomes = self.post_batch(requests)
            except LedgerError as error:
                if error.code != LedgerErrorCode.LOCK_WAIT_TIMEOUT:
                    raise
                # An account of one of them stayed locked (another session's): the others
                # are released one at a time, each waiting briefly; that one stays due.
                outcomes = [o for r in requests if (o := self._expire_alone(r)) is not None]
            released += sum(1 for o in outcomes if o.ok and not o.replayed)
            if len(outcomes) == len(requests):
                return released
            # Some stay due, locked: the holds after them are not left waiting behind them.
            after = (due[-1].expires_at, due[-1].seq)

    def _expire_alone(self, request: EntryRequest) -> EntryOutcome | None:
        """Record one expiry in its own transaction, waiting at most
        `EXPIRY_ALONE_LOCK_WAIT_MS` for a lock (less if the session's own bound is
        shorter); None if a lock stayed held that long."""

        def work(conn: Connection) -> tuple[EntryOutcome, ...]:
            if conn.dialect.name == "postgresql":
                wait = f"{EXPIRY_ALONE_LOCK_WAIT_MS}ms"
                conn.execute(_SHORTER_LOCK_WAIT, {"wait": wait, "setting": wait})
            return _post_and_commit(conn, [request], self._seal_key)

        try:
            (outcome,) = self._run(work)
        except LedgerError as error:
            if error.code != LedgerErrorCode.LOCK_WAIT_TIMEOUT:
                raise
            return None
        return outcome

    # Reading

    def balance_as_of(self, account_id: int, moment: datetime) -> Money:
        """The account's posted balance as it stood at `moment`."""
        return self._run(lambda conn: balance_as_of(conn, account_id, moment))

    def statement(
        self,
        account_id: int,
        *,
        from_at: datetime,
        to_at: datetime,
        page_size: int = 100,
        cursor: str | None = None,
    ) -> StatementPage:
        """One page of the account's statement for the half-open period [from_at, to_at)."""
        return self._run(
            lambda conn: account_statement(
                conn,
                account_id,
                from_at=from_at,
                to_at=to_at,
                page_size=page_size,
                cursor=cursor,
            )
        )

    # Audit

    def seal(self, *, full_scan: bool = False) -> int:
        """Seal the entries not yet in the hash chain, those within the sealer's late
        window or, with `full_scan`, all of them (`ledger.sealing`); return how many."""
        self.check_seal_key()
        total = 0
        while True:
            sealed = self._run(lambda conn: seal_entries(conn, self._seal_key, full_scan=full_scan))
            total += sealed
            if sealed == 0:
                return total

    def seal_account_terms(self, *, per_round: int = TERMS_SEAL_BATCH_MAX) -> TermsSealing:
        """Seal the terms, as they stand, of every account a migration listed
        (`ledger.terms_sealing`), then record in the history every account frozen or
        closed before 0013 (`ledger.terms_baseline`), `per_round` accounts a transaction;
        return what was done and what was left. Run once after upgrading such a database;
        with nothing to do it changes nothing."""
        self.check_seal_key()
        done = TermsSealing()
        for step in (seal_listed_terms, record_unversioned_terms):
            after: int | None = 0
            while after is not None:
                work = functools.partial(step, key=self._seal_key, after_id=after, limit=per_round)
                round_done, after = self._run(work)
                done += round_done
        return done

    def verify(
        self, *, anchor: ChainAnchor | None = None, events_anchor: ChainAnchor | None = None
    ) -> AuditReport:
        """Recompute digests, the chain and every balance; report all discrepancies, and
        whether the chain still holds `anchor` and the account history `events_anchor`,
        each a position and link of an earlier report."""
        self.check_seal_key()
        # One snapshot for every query of the audit, so that entries committed while it
        # runs cannot look like tampering.
        with reading(self.engine, one_snapshot=True) as conn, conn.begin():
            return verify_ledger(
                conn, seal_key=self._seal_key, anchor=anchor, events_anchor=events_anchor
            )


def _read_all(query: Select[Any], conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(query).all())


def _due_holds(now: datetime, limit: int, after: tuple[datetime, int] | None) -> Select[Any]:
    """The first `limit` holds unresolved with their timeout passed at `now`, by when they
    expired (then by entry number), after `after` if given."""
    resolution = entry.alias("resolution")
    query = (
        select(entry.c.entry_id, entry.c.expires_at, entry.c.seq)
        .outerjoin(resolution, resolution.c.target_seq == entry.c.seq)
        .where(entry.c.kind == "pending", entry.c.expires_at <= now, resolution.c.seq.is_(None))
        .order_by(entry.c.expires_at, entry.c.seq)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(entry.c.expires_at, entry.c.seq) > tuple_(*after))
    return query


def _post_and_commit(
    conn: Connection, requests: Sequence[EntryRequest], seal_key: bytes
) -> tuple[EntryOutcome, ...]:
    # The writes and the COMMIT share a round trip: the accounts are unlocked one trip sooner.
    planned = plan_entries(conn, requests, seal_key=seal_key)
    commit_with(conn, lambda: write_planned(conn, planned))
    return planned.outcomes


def _with_link(request: EntryRequest, linked: bool) -> EntryRequest:
    return request if request.linked is linked else replace(request, linked=linked)


def _expiry(target_id: str, expires_at: datetime) -> EntryRequest:
    return EntryRequest(
        entry_id=expiry_entry_id(target_id),
        business_date=expires_at.astimezone(UTC).date(),
        kind=EntryKind.EXPIRE_PENDING,
        target_id=target_id,
    )


def open_account_in(conn: Connection, spec: AccountSpec, *, seal_key: bytes) -> Account:
    """Open an account inside the caller's transaction (idempotent by `spec.ref`), its terms
    sealed under `seal_key` (`terms_digest`, written once the row has its id)."""
    spec = spec.validated()
    row = conn.execute(select(account).where(account.c.ref == spec.ref)).first()
    if row is not None:
        existing = row_to_account(row)
        existing.require_opened_with(spec)
        return existing
    values = {
        "ref": spec.ref,
        "coop_id": spec.coop_id,
        "currency": spec.currency,
        "kind": spec.kind.value,
        "status": AccountStatus.ACTIVE.value,
        "min_balance_minor": spec.min_balance_minor,
        "max_balance_minor": spec.max_balance_minor,
        "posted_minor": 0,
        "pending_debit_minor": 0,
        "pending_credit_minor": 0,
        "posting_count": 0,
        "created_at": datetime.now(UTC),
    }
    created = row_to_account(conn.execute(insert(account).values(values).returning(account)).one())
    digest = account_terms_digest(seal_key, created.terms())
    conn.execute(update(account).where(account.c.id == created.id).values(terms_digest=digest))
    return created


def set_account_status_in(
    conn: Connection, account_id: int, status: AccountStatus, *, seal_key: bytes
) -> Account:
    """Freeze, unfreeze or close an account inside the caller's transaction, under its lock
    (`set_accounts_status_in` for one account)."""
    return set_accounts_status_in(conn, [account_id], status, seal_key=seal_key)[account_id]


def set_accounts_status_in(
    conn: Connection, account_ids: Collection[int], status: AccountStatus, *, seal_key: bytes
) -> dict[int, Account]:
    """Give every account in `account_ids` `status` inside the caller's transaction, locking
    them in ascending id order first; return them by id as they now are. All or none:
    `account_not_found`, then the refusals of `set_locked_accounts_status`."""
    wanted = set(account_ids)
    current = lock_accounts(conn, wanted)
    if missing := sorted(wanted - current.keys()):
        raise LedgerError(LedgerErrorCode.ACCOUNT_NOT_FOUND, f"no account {missing[0]}")
    return set_locked_accounts_status(conn, current, status, seal_key=seal_key)


def set_locked_accounts_status(
    conn: Connection, accounts: Mapping[int, Account], status: AccountStatus, *, seal_key: bytes
) -> dict[int, Account]:
    """Give `accounts`, as this transaction locked and read them (`lock_accounts`), `status`;
    return them by id as they now are. All or none: `account_status_invalid` (not an
    `AccountStatus`), `account_closed` (a closed account stays closed), then
    `account_not_empty` (closing needs zero balances and no holds). Each account's terms
    version is raised, its digest sealed again with the new status and an event appended
    to the account history (`ledger.account_events.record_status_change`)."""
    if not isinstance(status, AccountStatus):
        raise LedgerError(
            LedgerErrorCode.ACCOUNT_STATUS_INVALID, "the status must be active, frozen or closed"
        )
    if status is not AccountStatus.CLOSED and any(
        found.status is AccountStatus.CLOSED for found in accounts.values()
    ):
        raise LedgerError(LedgerErrorCode.ACCOUNT_CLOSED, "a closed account stays closed")
    if status is AccountStatus.CLOSED and not all(map(is_empty, accounts.values())):
        raise LedgerError(LedgerErrorCode.ACCOUNT_NOT_EMPTY, "balance and holds must be zero")
    changed = {i: replace(found, status=status) for i, found in accounts.items()}
    record_status_change(conn, accounts, changed, seal_key)
    return changed


def is_empty(found: Account) -> bool:
    """True when the account holds nothing, posted or held."""
    held = found.pending_debit_minor or found.pending_credit_minor
    return found.posted_minor == 0 and not held
