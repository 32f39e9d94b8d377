"""Audit: recompute the ledger from its rows and report everything that does not add up.

Findings are returned as values so one pass reports every problem, not just the first.
Checks: each entry's keyed digest (an altered, added or removed posting, or an entry
written behind the ledger's back, changes or lacks it); each entry sums to zero per
currency and its postings carry its commit moment; the seal chain is gapless and every keyed
link recomputes (a deleted or reordered sealed entry breaks it), and it still holds the
anchor a caller kept from an earlier report (`ChainAnchor`: only a record kept outside the
database shows that its newest entries, or the whole chain, were removed); each account's
postings carry its currency and cooperative; each account's posted legs are
numbered 1..n with running balances that add up; each cached balance equals its postings;
the open holds equal the cached pending amounts; all balances of one currency sum to zero.
Every time and date the audit reads is selected in a raw form that always decodes
(`ledger.stored_times`): one that the ledger's own reads could not decode (PostgreSQL's
'infinity', text that is no time) is a finding, `timestamp_unreadable` or
`date_unreadable`, never an error that ends the audit; on SQLite a time stored in another
text form is `timestamp_form_invalid`. Read-only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, select, text

from ledger.digest import GENESIS_HASH, chain_link, entry_digest
from ledger.stored_times import (
    UnreadableTimeError,
    readable_date,
    readable_time,
    with_raw_times,
)
from ledger.tables import account, chain, entry, posting

__all__ = ["AuditReport", "ChainAnchor", "Finding", "verify_ledger"]

_STREAM = {"stream_results": True, "yield_per": 5000}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that does not add up: a stable `code`, and where."""

    code: str
    subject: str
    detail: str


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """A chain position and its link, from an earlier report, kept outside the database."""

    position: int
    chain_hash: str


@dataclass(slots=True)
class AuditReport:
    """The result of a full verification; `intact` when there are no findings."""

    findings: list[Finding] = field(default_factory=list)
    entries_checked: int = 0
    postings_checked: int = 0
    accounts_checked: int = 0
    sealed_entries: int = 0
    unsealed_entries: int = 0
    chain_length: int = 0
    chain_head_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        """True when nothing was altered, deleted or inserted behind the ledger's back."""
        return not self.findings

    def add(self, code: str, subject: str, detail: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(code, subject, detail))


def verify_ledger(
    conn: Connection, *, seal_key: bytes, anchor: ChainAnchor | None = None
) -> AuditReport:
    """Recompute digests, chain, running balances and caches; report every discrepancy,
    and whether the chain still holds `anchor` (when given)."""
    report = AuditReport()
    digests = _check_entries(conn, seal_key, report)
    _check_chain(conn, seal_key, digests, report, anchor)
    _check_accounts(conn, report)
    if conn.dialect.name == "sqlite":
        _check_sqlite_times(conn, report)
    return report


def _postings_by_entry(conn: Connection) -> Iterator[tuple[int, list[Any]]]:
    query = select(*with_raw_times(conn.dialect.name, *posting.c)).order_by(
        posting.c.entry_seq, posting.c.leg_no
    )
    current: int | None = None
    rows: list[Any] = []
    for row in conn.execution_options(**_STREAM).execute(query):
        if row.entry_seq != current and current is not None:
            yield current, rows
            rows = []
        current = row.entry_seq
        rows.append(row)
    if current is not None:
        yield current, rows


def _check_entries(conn: Connection, key: bytes, report: AuditReport) -> dict[int, str]:
    target = entry.alias("target")
    query = (
        select(*with_raw_times(conn.dialect.name, *entry.c), target.c.entry_id.label("target_id"))
        .outerjoin(target, target.c.seq == entry.c.target_seq)
        .order_by(entry.c.seq)
    )
    postings = _postings_by_entry(conn)
    pending_group = next(postings, None)
    digests: dict[int, str] = {}
    for row in conn.execution_options(**_STREAM).execute(query):
        while pending_group is not None and pending_group[0] < row.seq:
            report.add("posting_without_entry", f"entry seq {pending_group[0]}", "no entry")
            pending_group = next(postings, None)
        rows: list[Any] = []
        if pending_group is not None and pending_group[0] == row.seq:
            rows = pending_group[1]
            pending_group = next(postings, None)
        report.entries_checked += 1
        report.postings_checked += len(rows)
        digests[row.seq] = row.digest
        _check_one_entry(row, rows, key, report)
    while pending_group is not None:
        report.add("posting_without_entry", f"entry seq {pending_group[0]}", "no entry")
        pending_group = next(postings, None)
    return digests


def _check_one_entry(row: Any, rows: list[Any], key: bytes, report: AuditReport) -> None:
    subject = f"entry {row.entry_id} (seq {row.seq})"
    business_date = _read_date(row.business_date, subject, report)
    expiry_read, expires_at = _read_time(row.expires_at, "expires_at", subject, report)
    _, committed_at = _read_time(row.committed_at, "committed_at", subject, report)
    # With a time unreadable there is no digest to recompute: the finding says why.
    if business_date is not None and expiry_read and committed_at is not None:
        times = (business_date, expires_at, committed_at)
        _check_digest(row, rows, times, key, subject, report)
    totals: Counter[str] = Counter()
    for p in rows:
        totals[p.currency] += p.amount_minor
    if any(totals.values()):
        report.add("entry_unbalanced", subject, f"sums {dict(totals)}")
    _check_posting_times(row, committed_at, rows, subject, report)


# An entry's business date, expiry and commit moment, as the ledger reads them.
_EntryTimes = tuple[date, datetime | None, datetime]


def _read_date(raw: object, subject: str, report: AuditReport) -> date | None:
    """The raw business date of `subject` as a date; None, reported, when it does not read."""
    try:
        return readable_date(raw)
    except UnreadableTimeError:
        report.add("date_unreadable", subject, "business_date cannot be read as a date")
        return None


def _read_time(
    raw: object, column: str, subject: str, report: AuditReport
) -> tuple[bool, datetime | None]:
    """Whether the raw time `column` of `subject` reads, and what it reads as; a time that
    does not is reported."""
    try:
        return True, readable_time(raw)
    except UnreadableTimeError:
        report.add("timestamp_unreadable", subject, f"{column} cannot be read as a time")
        return False, None


def _check_digest(
    row: Any, rows: list[Any], times: _EntryTimes, key: bytes, subject: str, report: AuditReport
) -> None:
    canonical = [
        (
            p.account_id,
            p.coop_id,
            p.currency,
            p.amount_minor,
            bool(p.is_pending),
            p.account_posting_no,
            p.balance_after_minor,
        )
        for p in rows
    ]
    business_date, expires_at, committed_at = times
    recomputed = entry_digest(
        key,
        entry_id=row.entry_id,
        kind=row.kind,
        target_id=row.target_id,
        business_date=business_date,
        timeout_s=row.timeout_s,
        expires_at=expires_at,
        metadata_json=row.metadata_json,
        committed_at=committed_at,
        postings=canonical,
    )
    if recomputed != row.digest:
        report.add("entry_digest_mismatch", subject, "altered, or written behind the ledger")


def _check_posting_times(
    row: Any, committed_at: datetime | None, rows: list[Any], subject: str, report: AuditReport
) -> None:
    """A posting carries its entry's commit moment; statements and balances as of a moment
    read it, so a posting moved in time is tampering too, and one that cannot be read
    stops them. A posting stored exactly as its readable entry's time needs no parsing."""
    moved = False
    for p in rows:
        if committed_at is not None and p.committed_at == row.committed_at:
            continue
        posting_subject = f"posting {p.leg_no} of entry seq {p.entry_seq}"
        read, moment = _read_time(p.committed_at, "committed_at", posting_subject, report)
        moved = moved or (read and moment != committed_at)
    if moved:
        report.add("posting_time_mismatch", subject, "a posting's time differs from its entry's")


def _check_chain(
    conn: Connection,
    key: bytes,
    digests: dict[int, str],
    report: AuditReport,
    anchor: ChainAnchor | None,
) -> None:
    previous, expected_position = GENESIS_HASH, 1
    # `sealed_at` is left out: nothing reads it, and a value written there behind the
    # ledger's back must not stop the audit.
    query = select(chain.c.position, chain.c.entry_seq, chain.c.chain_hash).order_by(
        chain.c.position
    )
    sealed: set[int] = set()
    # Position 0 is the genesis link that every chain starts from, even an empty one.
    anchored = anchor is None or anchor.position == 0
    if anchor is not None and anchor.position == 0 and anchor.chain_hash != GENESIS_HASH:
        report.add("chain_anchor_mismatch", "chain position 0", "the genesis link is fixed")
    for row in conn.execution_options(**_STREAM).execute(query):
        subject = f"chain position {row.position}"
        if row.position != expected_position:
            report.add("chain_gap", subject, f"expected position {expected_position}")
        expected_position = row.position + 1
        if anchor is not None and row.position == anchor.position:
            anchored = True
            if row.chain_hash != anchor.chain_hash:
                report.add("chain_anchor_mismatch", subject, "differs from the anchor kept")
        digest = digests.get(row.entry_seq)
        if digest is None:
            report.add("sealed_entry_missing", subject, f"entry seq {row.entry_seq} is gone")
        else:
            if chain_link(key, previous, digest) != row.chain_hash:
                report.add("chain_hash_mismatch", subject, f"entry seq {row.entry_seq}")
            sealed.add(row.entry_seq)
        previous = row.chain_hash
        report.chain_length = row.position
    if not anchored:
        assert anchor is not None
        report.add(
            "chain_anchor_missing",
            f"chain position {anchor.position}",
            f"the chain ends at position {report.chain_length}: sealed entries were removed",
        )
    report.sealed_entries = len(sealed)
    report.unsealed_entries = len(digests.keys() - sealed)
    report.chain_head_hash = previous


def _check_accounts(conn: Connection, report: AuditReport) -> None:
    running = _running_balances(conn, report)
    holds = _open_holds(conn)
    labels = _posting_labels(conn)
    totals: Counter[str] = Counter()
    for row in conn.execute(_accounts_query(conn)):
        report.accounts_checked += 1
        count, balance = running.pop(row.id, (0, 0))
        subject = f"account {row.id} ({row.ref})"
        _read_time(row.created_at, "created_at", subject, report)
        if labels.get(row.id, set()) - {(row.currency, row.coop_id)}:
            report.add(
                "account_label_mismatch",
                subject,
                f"holds {row.currency} of coop {row.coop_id}; its postings say otherwise",
            )
        if (row.posting_count, row.posted_minor) != (count, balance):
            report.add(
                "account_balance_mismatch",
                subject,
                f"cached {row.posted_minor} in {row.posting_count} postings, "
                f"postings give {balance} in {count}",
            )
        _check_pending(row, holds.get(row.id, (0, 0)), subject, report)
        totals[row.currency] += row.posted_minor
    for account_id in running:
        report.add("posting_without_account", f"account {account_id}", "no such account")
    for currency, total in totals.items():
        if total:
            report.add("ledger_unbalanced", currency, f"balances sum to {total}")


def _accounts_query(conn: Connection) -> Select[Any]:
    """The account columns the audit checks, `created_at` in its raw form."""
    c = account.c
    checked = (c.id, c.ref, c.coop_id, c.currency, c.posted_minor, c.posting_count)
    pending = (c.pending_debit_minor, c.pending_credit_minor)
    columns = with_raw_times(conn.dialect.name, *checked, *pending, c.created_at)
    return select(*columns).order_by(c.id)


def _check_pending(row: Any, holds: tuple[int, int], subject: str, report: AuditReport) -> None:
    """The account's cached pending amounts equal what its open holds reserve."""
    if (row.pending_debit_minor, row.pending_credit_minor) != holds:
        report.add(
            "account_pending_mismatch",
            subject,
            f"cached {row.pending_debit_minor}/{row.pending_credit_minor}, "
            f"open holds give {holds[0]}/{holds[1]}",
        )


def _running_balances(conn: Connection, report: AuditReport) -> dict[int, tuple[int, int]]:
    """Walk each account's posted legs in order; return (count, balance) per account."""
    query = (
        select(
            posting.c.account_id,
            posting.c.account_posting_no,
            posting.c.amount_minor,
            posting.c.balance_after_minor,
        )
        .where(posting.c.is_pending.is_(False))
        .order_by(posting.c.account_id, posting.c.account_posting_no)
    )
    state: dict[int, tuple[int, int]] = {}
    for row in conn.execution_options(**_STREAM).execute(query):
        count, balance = state.get(row.account_id, (0, 0))
        subject = f"account {row.account_id} posting {row.account_posting_no}"
        if row.account_posting_no != count + 1:
            report.add("posting_sequence_gap", subject, f"expected number {count + 1}")
        balance += row.amount_minor
        if row.balance_after_minor != balance:
            report.add(
                "posting_balance_mismatch",
                subject,
                f"records {row.balance_after_minor}, running sum is {balance}",
            )
            balance = row.balance_after_minor
        state[row.account_id] = (row.account_posting_no, balance)
    return state


def _posting_labels(conn: Connection) -> dict[int, set[tuple[str, int]]]:
    """The (currency, cooperative) pairs each account's postings recorded."""
    query = select(posting.c.account_id, posting.c.currency, posting.c.coop_id).distinct()
    labels: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for account_id, currency, coop_id in conn.execute(query):
        labels[account_id].add((currency, coop_id))
    return labels


# SQLite keeps times as text in one form, and statements compare them as text: the same
# instant written in another form (a `T` for the space, no fraction) reads the same but
# sorts differently, so it moves a posting in every statement and balance as of a moment.
_SQLITE_TIME_FORM = (
    "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]"
    " [0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]"
)
_SQLITE_TIMES = (
    ("ledger_entry", "committed_at", "entry seq", "seq"),
    ("ledger_entry", "expires_at", "entry seq", "seq"),
    ("ledger_posting", "committed_at", "posting of entry seq", "entry_seq"),
)


def _check_sqlite_times(conn: Connection, report: AuditReport) -> None:
    for table, column, noun, key in _SQLITE_TIMES:
        query = text(
            f"SELECT DISTINCT {key} FROM {table} WHERE {column} IS NOT NULL"
            f" AND (typeof({column}) <> 'text' OR {column} NOT GLOB :form) ORDER BY {key}"
        )
        for (seq,) in conn.execute(query, {"form": _SQLITE_TIME_FORM}):
            report.add("timestamp_form_invalid", f"{noun} {seq}", f"{column} is not as written")


def _open_holds(conn: Connection) -> dict[int, tuple[int, int]]:
    """Sum the legs of holds that no entry has resolved, as (debit, credit) per account."""
    resolution = entry.alias("resolution")
    query = (
        select(posting.c.account_id, posting.c.amount_minor)
        .join(entry, entry.c.seq == posting.c.entry_seq)
        .outerjoin(resolution, resolution.c.target_seq == entry.c.seq)
        .where(and_(entry.c.kind == "pending", resolution.c.seq.is_(None)))
    )
    holds: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for account_id, amount in conn.execute(query):
        holds[account_id][0 if amount < 0 else 1] += abs(amount)
    return {key: (value[0], value[1]) for key, value in holds.items()}
