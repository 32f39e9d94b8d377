"""The audit of the account history: its chain recomputes and holds the anchor kept, and
each account is its latest event.

Checks: every event's keyed link (`ledger.digest.account_event_link`) recomputes from the
link stored before it, in `seq` order, and the event's values: an event altered, linked in
behind the ledger's back or removed from the middle is `account_event_chain_broken`, once,
at the break (the link after it is checked against the stored one). Each account matches
its history (`ledger.account_events`): an account whose terms version is behind its latest
event's, or at it with another status or digest, is an earlier row put back (a frozen
account's `active` row restored with its digest, which verifies on its own):
`account_terms_rolled_back`; one whose version (other than 0) no event records lost its
newest events, `account_event_missing`; events of an account that does not exist are
`account_event_without_account`. An event records the digest the ledger left the account
with, none included (the account had none: listed by a migration, or lost), so an account
with a digest matches only that one (`kopnet ledger seal-terms`, sealing an account that
has a history, records the digest it gives in an event); an account without one is the
account checks' (`ledger.audit_accounts`). An account at version 0 with no event is
active, as every account opens: one frozen or closed there changed before 0013, and its
opening row put back would match a history that says nothing of it, so it is
`account_terms_unversioned` until `seal-terms` records it (`ledger.terms_baseline`).

What no check inside the database can show is the newest events removed together with
every account they changed put back as it was before them: the history left is
consistent, as an entry chain cut back is. So the report gives the history's length and
head link ("?" unless that link held), an anchor to keep outside the database; given back
(`ChainAnchor`, the event's `seq` and link), a history that no longer reaches it is
`account_event_anchor_missing`, one that reaches it with another link
`account_event_anchor_mismatch`.

Values are read in raw forms (`ledger.stored_values`, `ledger.stored_times`): an event's
value that does not read is reported and its link is not recomputed, nor, where it is the
status or digest, compared with the account; an account's is reported by the account
checks and skips what it would have compared here. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ledger.account import AccountStatus
from ledger.audit_report import STREAM, AuditReport, ChainAnchor
from ledger.digest import GENESIS_HASH, account_event_link
from ledger.stored_values import Unreadable, raw_value
from ledger.tables import account, account_event

__all__ = ["check_account_events"]

# An account's latest event: its version, and the status and digest it recorded (either
# `Unreadable` where it does not read).
_Latest = tuple[int, object, object]


def check_account_events(
    conn: Connection, key: bytes, report: AuditReport, anchor: ChainAnchor | None = None
) -> None:
    """Recompute the account history's chain under `key`, check that it still holds
    `anchor` (when given), and check each account against its latest event."""
    assert key, "the sealing key must not be empty"
    latest = _check_chain(conn, key, report, anchor)
    _check_accounts(conn, latest, report)


@dataclass(slots=True)
class _Walk:
    """The chain walked so far: the link stored before the next event (None where it does
    not read), whether the last link held, whether the anchor was reached, and each
    account's latest event."""

    previous: str | None = GENESIS_HASH
    held: bool = True
    anchored: bool = True
    latest: dict[int, _Latest] = field(default_factory=dict)


def _check_chain(
    conn: Connection, key: bytes, report: AuditReport, anchor: ChainAnchor | None
) -> dict[int, _Latest]:
    """Check every link in `seq` order and the anchor; record the history's length and its
    head link ("?" unless that link held: an anchor is never kept from one the audit could
    not vouch for); return each account's latest event."""
    dialect = conn.dialect.name
    query = select(*(raw_value(c, dialect) for c in account_event.c)).order_by(account_event.c.seq)
    walk = _Walk(anchored=_holds_genesis(anchor, report))
    for row in conn.execution_options(**STREAM).execute(query):
        seq = report.events_length + 1 if type(row.seq) is Unreadable else row.seq
        report.events_length = seq
        _check_anchor_at(row, seq, anchor, walk, report)
        walk.held = _check_event(row, key, walk.previous, report)
        _note_latest(row, walk.latest)
        walk.previous = None if type(row.chain_hash) is Unreadable else row.chain_hash
    if not walk.anchored:
        assert anchor is not None
        report.add(
            "account_event_anchor_missing",
            f"account event {anchor.position}",
            f"the history ends at event {report.events_length}: its newest events were removed",
        )
    report.events_head_hash = walk.previous if walk.held and walk.previous else "?"
    return walk.latest


def _holds_genesis(anchor: ChainAnchor | None, report: AuditReport) -> bool:
    """Whether the anchor is reached before any event: none given, or position 0, the
    genesis link every history starts from (another link there is a mismatch)."""
    if anchor is None or anchor.position != 0:
        return anchor is None
    if anchor.chain_hash != GENESIS_HASH:
        report.add("account_event_anchor_mismatch", "account event 0", "the genesis link is fixed")
    return True


def _check_anchor_at(
    row: Any, seq: int, anchor: ChainAnchor | None, walk: _Walk, report: AuditReport
) -> None:
    """At the anchor's event, the stored link is the anchor's."""
    if anchor is None or seq != anchor.position:
        return
    walk.anchored = True
    if row.chain_hash != anchor.chain_hash:
        report.add(
            "account_event_anchor_mismatch", f"account event {seq}", "differs from the anchor kept"
        )


def _check_event(row: Any, key: bytes, previous: str | None, report: AuditReport) -> bool:
    """Report the event's values that do not read and check its link; whether the link
    was recomputed and held."""
    subject = f"account event {row.seq}"
    _, created_at = report.read_time(row.created_at, "created_at", subject)
    unread = report.add_unreadable(row, subject, "its link is not recomputed")
    if unread or created_at is None or previous is None:
        return False
    return _check_link(row, created_at, key, previous, report)


def _note_latest(row: Any, latest: dict[int, _Latest]) -> None:
    """Keep the event as its account's latest where its version is the highest yet."""
    if type(row.account_id) is Unreadable or type(row.version) is Unreadable:
        return
    known = latest.get(row.account_id)
    if known is None or row.version >= known[0]:
        latest[row.account_id] = (row.version, row.status, row.terms_digest)


def _check_link(
    row: Any, created_at: datetime, key: bytes, previous: str, report: AuditReport
) -> bool:
    """The event's link recomputes from `previous`, the link stored before it; whether it
    did."""
    values = (row.seq, row.account_id, row.coop_id, row.version, row.status, row.terms_digest)
    if account_event_link(key, previous, (*values, created_at)) == row.chain_hash:
        return True
    report.add(
        "account_event_chain_broken",
        f"account event {row.seq}",
        f"account {row.account_id} version {row.version}: altered, or linked in or"
        " removed behind the ledger's back",
    )
    return False


def _check_accounts(conn: Connection, latest: dict[int, _Latest], report: AuditReport) -> None:
    """Each account matches its latest event; each account with events exists."""
    c = account.c
    columns = (c.id, c.ref, c.terms_version, c.status, c.terms_digest)
    query = select(*(raw_value(col, conn.dialect.name) for col in columns)).order_by(c.id)
    seen: set[int] = set()
    for row in conn.execution_options(**STREAM).execute(query):
        if type(row.id) is Unreadable or type(row.terms_version) is Unreadable:
            continue  # Reported by the account checks.
        seen.add(row.id)
        _check_account(row, latest.get(row.id), f"account {row.id} ({row.ref})", report)
    for account_id in sorted(latest.keys() - seen):
        report.add("account_event_without_account", f"account {account_id}", "no such account")


def _check_account(row: Any, event: _Latest | None, subject: str, report: AuditReport) -> None:
    """The account's terms version is its latest event's (0 without events), with that
    event's status and digest; at version 0 without events, it is active."""
    version = row.terms_version
    latest_version = 0 if event is None else event[0]
    if version < latest_version:
        detail = f"at terms version {version}, behind its history's {latest_version}"
        report.add("account_terms_rolled_back", subject, f"{detail}: an earlier row put back")
    elif version > latest_version:
        detail = f"at terms version {version}, its history's latest is {latest_version}"
        report.add("account_event_missing", subject, f"{detail}: events were removed")
    elif event is None:
        _check_unversioned(row.status, subject, report)
    elif _differs(row.status, event[1]) or _digest_differs(row.terms_digest, event[2]):
        detail = f"differs from its history's latest event (version {version})"
        report.add("account_terms_rolled_back", subject, f"{detail} in status or digest")


def _check_unversioned(status: object, subject: str, report: AuditReport) -> None:
    """An account the history never recorded is active: every account opens active, and
    every status change since 0013 is recorded. One frozen or closed before 0013 is not yet
    protected against its opening row put back."""
    if type(status) is Unreadable or status == AccountStatus.ACTIVE.value:
        return
    report.add(
        "account_terms_unversioned",
        subject,
        f"{status} at terms version 0 with no event (changed before 0013): `kopnet ledger"
        " seal-terms` records it in the history",
    )


def _differs(stored: object, recorded: object) -> bool:
    """Two values that read and differ."""
    unread = {type(stored), type(recorded)} & {Unreadable}
    return not unread and stored != recorded


def _digest_differs(stored: object, recorded: object) -> bool:
    """The account's digest is not the one its latest event recorded (an event records
    the digest the ledger left the account with, none included). An account without a
    digest is the account checks' to report."""
    return stored is not None and _differs(stored, recorded)
