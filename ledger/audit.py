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
the open holds equal the cached pending amounts; all balances of one currency sum to zero;
each account's terms (ref, cooperative, currency, kind, status, limits) recompute their
keyed digest (`account_terms_mismatch`; without a digest, `account_terms_unsealed` for an
account a migration listed, `account_terms_digest_missing` for any other), and each
account is the latest version its history of terms changes recorded
(`account_terms_rolled_back`, `account_event_missing`, `account_terms_unversioned`; the
history's keyed chain recomputes, `account_event_chain_broken`, and holds the anchor kept,
`account_event_anchor_missing`, `account_event_anchor_mismatch`:
`ledger.audit_account_events`). The seal chain's links are `ledger.audit_chain`'s check.
Every time and date the audit reads is selected in a raw form that always decodes
(`ledger.stored_times`): one that the ledger's own reads could not decode (PostgreSQL's
'infinity', text that is no time) is a finding, `timestamp_unreadable` or
`date_unreadable`, never an error that ends the audit; on SQLite a time stored in another
text form is `timestamp_form_invalid`. On SQLite every text and integer column is read in
a raw form too (`ledger.stored_values`): text that is not UTF-8 or a blob in a text column is
`text_unreadable`, text, a real or a blob in a column of integers `integer_unreadable`; the
row's digest (a posting's entry's) and the sums that need the value are not recomputed, the
finding says so, and the audit goes on. On both engines a NULL in a column the schema
declares NOT NULL (a writer can drop the constraint) is `value_missing`, and skips what
that value would have checked in the same way: a digest or link is never left unchecked
without a finding. What the schema's unique indexes keep is checked too, since a writer can
drop them: an entry id held by two entries, or a target resolved by two, is
`value_duplicate` (a copy of an entry under its own id carries its digest, which leaves out
the sequence number), as are an entry sequence number or a chain's entry sealed twice; an
entry's legs are numbered 1..n (`posting_leg_gap`). On SQLite a business date stored in
another form than the ledger writes ('2026-W48-1' reads as a day) is `date_form_invalid`.
The account checks are `ledger.audit_accounts`'s, the report's types
`ledger.audit_report`'s. Read-only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select, text

from ledger.audit_account_events import check_account_events
from ledger.audit_accounts import check_accounts
from ledger.audit_chain import EntryDigests, check_chain
from ledger.audit_report import STREAM, AuditReport, ChainAnchor, Finding
from ledger.digest import entry_digest
from ledger.stored_times import UnreadableTimeError, readable_date
from ledger.stored_values import Unreadable, raw_value
from ledger.tables import entry, posting

__all__ = ["AuditReport", "ChainAnchor", "Finding", "verify_ledger"]

# What a value that does not read leaves unchecked (`AuditReport.add_unreadable`).
_ENTRY_UNCHECKED = "its digest is not recomputed"
_POSTING_UNCHECKED = "its entry's digest and sums are not recomputed"


def verify_ledger(
    conn: Connection,
    *,
    seal_key: bytes,
    anchor: ChainAnchor | None = None,
    events_anchor: ChainAnchor | None = None,
) -> AuditReport:
    """Recompute digests, chain, running balances and caches; report every discrepancy,
    and whether the chain still holds `anchor` and the account history `events_anchor`
    (each when given)."""
    report = AuditReport()
    digests = _check_entries(conn, seal_key, report)
    _check_unique_entry_keys(conn, report)
    check_chain(conn, seal_key, digests, report, anchor)
    check_accounts(conn, seal_key, report)
    check_account_events(conn, seal_key, report, events_anchor)
    if conn.dialect.name == "sqlite":
        _check_sqlite_times(conn, report)
    return report


def _postings_by_entry(conn: Connection, report: AuditReport) -> Iterator[tuple[int, list[Any]]]:
    """Each entry's postings, in order; one whose entry number does not read is reported."""
    columns = (raw_value(c, conn.dialect.name) for c in posting.c)
    query = select(*columns).order_by(posting.c.entry_seq, posting.c.leg_no)
    current: int | None = None
    rows: list[Any] = []
    for row in conn.execution_options(**STREAM).execute(query):
        if type(row.entry_seq) is Unreadable:
            report.add_unreadable(row, f"posting {row.leg_no} of entry seq ?", "it has no entry")
            continue
        if row.entry_seq != current and current is not None:
            yield current, rows
            rows = []
        current = row.entry_seq
        rows.append(row)
    if current is not None:
        yield current, rows


def _entries_query(conn: Connection) -> Select[Any]:
    """Every entry column, and the id of the entry it resolves, each in its raw form."""
    target = entry.alias("target")
    columns = [raw_value(c, conn.dialect.name) for c in entry.c]
    # NULL where the entry resolves nothing (the outer join finds no target).
    target_id = raw_value(target.c.entry_id, conn.dialect.name, required=False)
    target_id = target_id.label("target_id")
    return (
        select(*columns, target_id)
        .outerjoin(target, target.c.seq == entry.c.target_seq)
        .order_by(entry.c.seq)
    )


def _check_entries(conn: Connection, key: bytes, report: AuditReport) -> EntryDigests:
    """Check every entry with its postings; return their digests, stored and recomputed."""
    postings = _postings_by_entry(conn, report)
    pending_group = next(postings, None)
    digests = EntryDigests()
    for row in conn.execution_options(**STREAM).execute(_entries_query(conn)):
        report.entries_checked += 1
        if type(row.seq) is Unreadable:
            # Nothing can be matched with it: its postings and its seal are reported missing.
            report.add_unreadable(row, f"entry {row.entry_id} (seq ?)", _ENTRY_UNCHECKED)
            continue
        if row.seq in digests.stored:
            # Entries come in order of their numbers: a repeat follows the first at once.
            subject = f"entry {row.entry_id} (seq {row.seq})"
            report.add("value_duplicate", subject, "another entry holds its seq")
        while pending_group is not None and pending_group[0] < row.seq:
            report.add("posting_without_entry", f"entry seq {pending_group[0]}", "no entry")
            pending_group = next(postings, None)
        rows: list[Any] = []
        if pending_group is not None and pending_group[0] == row.seq:
            rows = pending_group[1]
            pending_group = next(postings, None)
        report.postings_checked += len(rows)
        stored = None if type(row.digest) is Unreadable else row.digest
        digests.stored[row.seq] = stored
        recomputed = _check_one_entry(row, rows, key, report)
        if recomputed is not None and recomputed != stored:
            digests.recomputed[row.seq] = recomputed
    while pending_group is not None:
        report.add("posting_without_entry", f"entry seq {pending_group[0]}", "no entry")
        pending_group = next(postings, None)
    return digests


def _check_unique_entry_keys(conn: Connection, report: AuditReport) -> None:
    """Each entry id names one entry, and each entry is the target of one entry at most (a
    hold resolved once, an entry reversed once): the schema's unique indexes keep both,
    and without them a copy of an entry under its own id carries its digest. Each entry
    after the first to hold a value is reported, naming the first."""
    dialect = conn.dialect.name
    seq, entry_id = raw_value(entry.c.seq, dialect), raw_value(entry.c.entry_id, dialect)
    for column in (entry.c.entry_id, entry.c.target_seq):
        # The sequence number, in order, is checked as the entries are read.
        assert not column.primary_key, "a unique key besides the sequence number"
        # Grouped by the stored value: on SQLite text and a blob of its bytes differ.
        repeated = select(column).where(column.is_not(None)).group_by(column)
        repeated = repeated.having(func.count() > 1)
        held = raw_value(column, dialect, required=False).label("held")
        query = select(seq, entry_id, held).where(column.in_(repeated))
        first: dict[object, object] = {}
        for row in conn.execute(query.order_by(column, entry.c.seq)):
            if row.held in first:
                subject = f"entry {row.entry_id} (seq {row.seq})"
                detail = f"its {column.key} {row.held} is entry seq {first[row.held]}'s too"
                report.add("value_duplicate", subject, detail)
            first.setdefault(row.held, row.seq)


def _check_one_entry(row: Any, rows: list[Any], key: bytes, report: AuditReport) -> str | None:
    """One entry's digest, sums, legs and times; return the digest its values recompute
    (None when one does not read)."""
    subject = f"entry {row.entry_id} (seq {row.seq})"
    business_date = _read_date(row.business_date, subject, report)
    expiry_read, expires_at = report.read_time(row.expires_at, "expires_at", subject)
    _, committed_at = report.read_time(row.committed_at, "committed_at", subject)
    entry_read = not report.add_unreadable(row, subject, _ENTRY_UNCHECKED)
    postings_read = _postings_read(rows, report)
    # With a value unreadable there is no digest to recompute: the finding says why.
    times_read = business_date is not None and expiry_read and committed_at is not None
    recomputed = None
    if entry_read and postings_read and times_read:
        assert business_date is not None and committed_at is not None
        times = (business_date, expires_at, committed_at)
        recomputed = _check_digest(row, rows, times, key, subject, report)
    if postings_read:
        totals: Counter[str] = Counter()
        for p in rows:
            totals[p.currency] += p.amount_minor
        if any(totals.values()):
            report.add("entry_unbalanced", subject, f"sums {dict(totals)}")
        legs = [p.leg_no for p in rows]
        if legs != list(range(1, len(rows) + 1)):
            report.add(
                "posting_leg_gap", subject, f"legs numbered {legs}, expected 1 to {len(rows)}"
            )
    _check_posting_times(row, committed_at, rows, subject, report)
    return recomputed


def _postings_read(rows: list[Any], report: AuditReport) -> bool:
    """Whether every value of an entry's postings reads; each one that does not is reported."""
    # Every posting is asked: the common answer, all read, is found without naming them.
    unread = [p for p in rows if Unreadable in map(type, p)]
    for p in unread:
        subject = f"posting {p.leg_no} of entry seq {p.entry_seq}"
        report.add_unreadable(p, subject, _POSTING_UNCHECKED)
    return not unread


# An entry's business date, expiry and commit moment, as the ledger reads them.
_EntryTimes = tuple[date, datetime | None, datetime]


def _read_date(raw: object, subject: str, report: AuditReport) -> date | None:
    """The raw business date of `subject` as a date; None, reported, when it does not read
    (a value missing is reported with the row's other values)."""
    if type(raw) is Unreadable:
        return None
    try:
        return readable_date(raw)
    except UnreadableTimeError:
        report.add("date_unreadable", subject, "business_date cannot be read as a date")
        return None


def _check_digest(
    row: Any, rows: list[Any], times: _EntryTimes, key: bytes, subject: str, report: AuditReport
) -> str:
    """Recompute the entry's digest from its values, report it when the stored one differs,
    and return it."""
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
    return recomputed


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
        read, moment = report.read_time(p.committed_at, "committed_at", posting_subject)
        # Against an entry time that does not read there is nothing to compare.
        moved = moved or (read and committed_at is not None and moment != committed_at)
    if moved:
        report.add("posting_time_mismatch", subject, "a posting's time differs from its entry's")


# SQLite keeps times as text in one form, and statements compare them as text: the same
# instant written in another form (a `T` for the space, no fraction) reads the same but
# sorts differently, so it moves a posting in every statement and balance as of a moment.
_SQLITE_TIME_FORM = (
    "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]"
    " [0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]"
)
# A business date as the ledger writes it: '2026-W48-1' or '20261123' read as days too.
_SQLITE_DATE_FORM = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]"
_SQLITE_TIMES = (
    ("ledger_entry", "committed_at", "entry seq", "seq", _SQLITE_TIME_FORM),
    ("ledger_entry", "expires_at", "entry seq", "seq", _SQLITE_TIME_FORM),
    ("ledger_posting", "committed_at", "posting of entry seq", "entry_seq", _SQLITE_TIME_FORM),
    ("ledger_entry", "business_date", "entry seq", "seq", _SQLITE_DATE_FORM),
)


def _check_sqlite_times(conn: Connection, report: AuditReport) -> None:
    for table, column, noun, key, form in _SQLITE_TIMES:
        # The key as it reads: one that is no integer is named "?" (and reported elsewhere).
        query = text(
            f"SELECT DISTINCT CASE typeof({key}) WHEN 'integer' THEN {key} ELSE '?' END"
            f" FROM {table} WHERE {column} IS NOT NULL"
            f" AND (typeof({column}) <> 'text' OR {column} NOT GLOB :form) ORDER BY 1"
        )
        code = "date_form_invalid" if form is _SQLITE_DATE_FORM else "timestamp_form_invalid"
        for (seq,) in conn.execute(query, {"form": form}):
            report.add(code, f"{noun} {seq}", f"{column} is not as written")
