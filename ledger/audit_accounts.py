"""The audit's account checks: each account's terms against their digest, and its cache
against its postings.

Checks: each account's terms (id, ref, cooperative, currency, kind, status, limits) and
terms version recompute its keyed `terms_digest` (`ledger.digest.account_terms_digest`;
that the account is its history's latest version is `ledger.audit_account_events`'s
check): terms rewritten behind the ledger's back, a widened overdraft, a raised cap, an
unfrozen account, terms copied with their digest from another row, are
`account_terms_mismatch`, and so are the terms migration 0012 found on a due account it
listed when they did not match the digest it found (`ledger.prior_terms`); an account
without a digest is `account_terms_unsealed` if a migration listed it (opened before 0008,
`ledger.terms_sealing`) and its history never recorded a digest, else
`account_terms_digest_missing` (the ledger gave it one: removed behind its back); every
balance its posted legs recorded lies within its limits (`posting_beyond_limit`: limits
never change once an account is opened, but for 0012's, so a limit widened for a while
and put back still shows); each account's postings carry its currency and cooperative;
its posted legs are numbered 1..n with running balances that add up; its cached balance
and posting count equal its postings; its cached pending amounts equal what its open
holds reserve; all balances of one currency sum to zero. Every column is read in a raw form
(`ledger.stored_values`, `ledger.stored_times`): an account value that does not read is a
finding and the checks that need it are skipped; a posting's is reported by the entry
checks (`ledger.audit`), so here the legs that hold one are left out, or walked past. A
NULL where the schema wants a value is `value_missing` the same way: in an account's NOT
NULL column, or as a posted leg's running number or balance after (a leg whose posted flag
is NULL is walked if it carries a running number). An id held by two accounts is
`value_duplicate`. Read-only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Select, and_, or_, select

from ledger.account import TERM_FIELDS
from ledger.audit_report import STREAM, AuditReport
from ledger.digest import account_terms_digest
from ledger.prior_terms import PriorTerms, prior_of, prior_terms_match
from ledger.stored_values import VALUE_MISSING, Unreadable, raw_value
from ledger.tables import account, account_event, account_unsealed, entry, posting
from ledger.terms_sealing import stored_terms

__all__ = ["check_accounts"]

# The account values each check reads: one that does not read skips the check.
_LABEL = frozenset({"currency", "coop_id"})
_BALANCE = frozenset({"currency", "posted_minor", "posting_count"})
_PENDING = frozenset({"pending_debit_minor", "pending_credit_minor"})
_TERMS = frozenset({*TERM_FIELDS, "terms_version", "terms_digest"})
_LIMITS = frozenset({"min_balance_minor", "max_balance_minor"})
# An account's posted legs walked: their count, the balance they sum to, and the lowest and
# highest balance any of them recorded (None before the first).
_Walked = tuple[int, int, int | None, int | None]
_NO_LEGS: _Walked = (0, 0, None, None)


def check_accounts(conn: Connection, key: bytes, report: AuditReport) -> None:
    """Check every account's terms against their digest under `key` and its cache against
    its postings, and each currency's balances sum to zero; one pass over the accounts."""
    assert key, "the sealing key must not be empty"
    running = _running_balances(conn, report)
    holds = _open_holds(conn)
    labels = _posting_labels(conn)
    listed = {
        row.account_id: prior_of(row) for row in conn.execute(_listed_without_a_recorded_digest())
    }
    totals: Counter[str] = Counter()
    previous_id: object = None
    for row in conn.execute(_accounts_query(conn)):
        report.accounts_checked += 1
        count, balance, low, high = running.pop(row.id, _NO_LEGS)
        subject = f"account {row.id} ({row.ref})"
        if row.id == previous_id and type(row.id) is not Unreadable:
            # Accounts come in order of their ids: a repeat follows the first at once.
            report.add("value_duplicate", subject, "another account holds its id")
        previous_id = row.id
        report.read_time(row.created_at, "created_at", subject)
        unread = _unreadable_columns(row, subject, report)
        if not unread & _TERMS:
            _check_terms(row, key, listed, subject, report)
        if not unread & _LABEL and labels.get(row.id, set()) - {(row.currency, row.coop_id)}:
            report.add(
                "account_label_mismatch",
                subject,
                f"holds {row.currency} of coop {row.coop_id}; its postings say otherwise",
            )
        if not unread & _LIMITS:
            _check_limits(row, (low, high), subject, report)
        if not unread & _BALANCE:
            _check_balance(row, (count, balance), subject, report)
            totals[row.currency] += row.posted_minor
        if not unread & _PENDING:
            _check_pending(row, holds.get(row.id, (0, 0)), subject, report)
    for account_id in running:
        report.add("posting_without_account", f"account {account_id}", "no such account")
    for currency, total in totals.items():
        if total:
            report.add("ledger_unbalanced", currency, f"balances sum to {total}")


def _accounts_query(conn: Connection) -> Select[Any]:
    """The account columns the audit checks, each in its raw form."""
    c = account.c
    checked = (c.id, c.ref, c.coop_id, c.currency, c.posted_minor, c.posting_count)
    pending = (c.pending_debit_minor, c.pending_credit_minor)
    terms = (c.kind, c.status, c.min_balance_minor, c.max_balance_minor, c.terms_version)
    every = (*checked, *pending, *terms, c.terms_digest, c.created_at)
    columns = (raw_value(col, conn.dialect.name) for col in every)
    return select(*columns).order_by(c.id)


def _listed_without_a_recorded_digest() -> Select[Any]:
    """The accounts listed by a migration whose history never recorded a digest: a listing
    does not excuse an account the ledger gave one (`ledger.terms_sealing`)."""
    e = account_event.c
    recorded = select(e.seq).where(
        e.account_id == account_unsealed.c.account_id, e.terms_digest.is_not(None)
    )
    listed = account_unsealed.c
    prior = (listed.prior_status, listed.prior_max_balance_minor, listed.prior_terms_digest)
    return select(listed.account_id, *prior).where(~recorded.exists())


def _unreadable_columns(row: Any, subject: str, report: AuditReport) -> frozenset[str]:
    """The columns of the account `row` that do not read, each reported."""
    if not report.add_unreadable(row, subject, "the checks that read it are skipped"):
        return frozenset()
    return frozenset(name for name, value in row._mapping.items() if type(value) is Unreadable)


def _check_terms(
    row: Any, key: bytes, listed: Mapping[int, PriorTerms | None], subject: str, report: AuditReport
) -> None:
    """The account's terms, as stored, recompute its digest. A NULL digest is not
    recomputed: unsealed when the account is `listed` by a migration (opened before 0008,
    or a due account whose limit 0012 removed) with no digest in its history, missing
    otherwise; the terms 0012 found on an account it listed must match the digest it
    found (`ledger.prior_terms`)."""
    prior = listed.get(row.id)
    if row.terms_digest is None and prior and not prior_terms_match(key, stored_terms(row), prior):
        report.add(
            "account_terms_mismatch",
            subject,
            "its terms as migration 0012 found them (status, upper limit) did not match their"
            " digest: rewritten before the upgrade",
        )
        return
    if row.terms_digest is None and row.id in listed:
        report.add(
            "account_terms_unsealed",
            subject,
            "listed by a migration, its terms not sealed since: check them against the"
            " registry, then `kopnet ledger seal-terms` seals them",
        )
        return
    if row.terms_digest is None:
        report.add(
            "account_terms_digest_missing",
            subject,
            "no terms digest, though the ledger gave it one (it seals every account it"
            " opens; a listed one whose history recorded a digest had one too)",
        )
        return
    # A plain comparison: any stored text, even one that is not ASCII, is a mismatch.
    if account_terms_digest(key, stored_terms(row), row.terms_version) != row.terms_digest:
        report.add(
            "account_terms_mismatch",
            subject,
            "its terms (ref, coop, currency, kind, status, limits) do not match their digest",
        )


def _check_limits(
    row: Any, reached: tuple[int | None, int | None], subject: str, report: AuditReport
) -> None:
    """Every balance the account's posted legs recorded lies within its limits. The ledger
    refuses a movement that would take an account past a limit in the direction it moves
    it, limits never change once the account is opened, and an account opens at zero,
    within them: a balance past one is a limit widened behind the ledger's back for a
    while, then put back (the terms digest then matches again), or a posting written
    behind it."""
    low, high = reached
    floor, ceiling = row.min_balance_minor, row.max_balance_minor
    if floor is not None and low is not None and low < floor:
        report.add("posting_beyond_limit", subject, f"a posting left {low}, below {floor}")
    if ceiling is not None and high is not None and high > ceiling:
        report.add("posting_beyond_limit", subject, f"a posting left {high}, above {ceiling}")


def _check_balance(row: Any, postings: tuple[int, int], subject: str, report: AuditReport) -> None:
    """The account's cached posting count and balance equal its posted legs'."""
    count, balance = postings
    if (row.posting_count, row.posted_minor) != (count, balance):
        report.add(
            "account_balance_mismatch",
            subject,
            f"cached {row.posted_minor} in {row.posting_count} postings, "
            f"postings give {balance} in {count}",
        )


def _check_pending(row: Any, holds: tuple[int, int], subject: str, report: AuditReport) -> None:
    """The account's cached pending amounts equal what its open holds reserve."""
    if (row.pending_debit_minor, row.pending_credit_minor) != holds:
        report.add(
            "account_pending_mismatch",
            subject,
            f"cached {row.pending_debit_minor}/{row.pending_credit_minor}, "
            f"open holds give {holds[0]}/{holds[1]}",
        )


def _running_balances(conn: Connection, report: AuditReport) -> dict[int, _Walked]:
    """Walk each account's posted legs in order; return per account their count, balance,
    and the lowest and highest balance they recorded."""
    c = posting.c
    walked = (c.account_id, c.account_posting_no, c.amount_minor, c.balance_after_minor)
    # Posted legs, and legs whose flag does not say (NULL, or unreadable on SQLite) but that
    # carry a running number, as only posted legs do: leaving those out would let a flag
    # set NULL take a leg out of the walk (the digest reads NULL as not pending).
    posted = or_(c.is_pending.is_(False), c.account_posting_no.is_not(None))
    query = (
        select(*(raw_value(col, conn.dialect.name) for col in walked))
        .where(and_(c.is_pending.is_not(True), posted))
        .order_by(c.account_id, c.account_posting_no)
    )
    state: dict[int, _Walked] = {}
    for row in conn.execution_options(**STREAM).execute(query):
        if type(row.account_id) is not Unreadable:
            state[row.account_id] = _walk_leg(row, state.get(row.account_id, _NO_LEGS), report)
    return state


# What a posted leg's running number or balance after, NULL, is walked past as.
_RUNNING_MISSING = Unreadable(VALUE_MISSING, "NULL on a posted leg")


def _walk_leg(row: Any, walked: _Walked, report: AuditReport) -> _Walked:
    """An account's walk after one more posted leg, its number and running balance checked,
    the balance it recorded counted in the lowest and highest. A leg with a value that does
    not read, or is missing, is walked past on what does."""
    count, balance, low, high = walked
    number, after = row.account_posting_no, row.balance_after_minor
    if number is None or after is None:
        number, after = _running_missing(row, report)
    if type(after) is not Unreadable:
        low = after if low is None or after < low else low
        high = after if high is None or after > high else high
    count, balance = _next_leg(row, (number, row.amount_minor, after), (count, balance), report)
    return count, balance, low, high


def _running_missing(row: Any, report: AuditReport) -> tuple[object, object]:
    """A posted leg's running number and balance after, each NULL one reported and replaced
    by `_RUNNING_MISSING` (the schema's CHECK wants both on a posted leg)."""
    assert None in (row.account_posting_no, row.balance_after_minor), "one of them is NULL"
    number = "?" if row.account_posting_no is None else row.account_posting_no
    subject = f"account {row.account_id} posting {number}"
    values = (row.account_posting_no, row.balance_after_minor)
    for column, value in zip(("account_posting_no", "balance_after_minor"), values, strict=True):
        if value is None:
            detail = f"{column} holds {_RUNNING_MISSING.stored}: it is walked past"
            report.add(VALUE_MISSING, subject, detail)
    number, after = (_RUNNING_MISSING if value is None else value for value in values)
    return number, after


def _next_leg(
    row: Any, leg: tuple[Any, Any, Any], walked: tuple[int, int], report: AuditReport
) -> tuple[int, int]:
    """The (count, balance) of an account after one more posted `leg` (its number, amount
    and balance after), its number and running balance checked."""
    count, balance = walked
    number, amount, after = leg
    subject = f"account {row.account_id} posting {number}"
    if type(number) is Unreadable:
        number = count + 1
    elif number != count + 1:
        report.add("posting_sequence_gap", subject, f"expected number {count + 1}")
    if type(amount) is Unreadable:
        return number, balance if type(after) is Unreadable else after
    balance += amount
    if type(after) is Unreadable:
        return number, balance
    if after != balance:
        report.add(
            "posting_balance_mismatch", subject, f"records {after}, running sum is {balance}"
        )
    return number, after


def _posting_labels(conn: Connection) -> dict[int, set[tuple[str, int]]]:
    """The (currency, cooperative) pairs each account's postings recorded, where they read."""
    columns = (posting.c.account_id, posting.c.currency, posting.c.coop_id)
    query = select(*(raw_value(c, conn.dialect.name) for c in columns)).distinct()
    labels: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for account_id, currency, coop_id in conn.execute(query):
        if Unreadable not in {type(account_id), type(currency), type(coop_id)}:
            labels[account_id].add((currency, coop_id))
    return labels


def _open_holds(conn: Connection) -> dict[int, tuple[int, int]]:
    """Sum the legs of holds that no entry has resolved, as (debit, credit) per account;
    legs whose account or amount does not read are left out."""
    resolution = entry.alias("resolution")
    columns = (posting.c.account_id, posting.c.amount_minor)
    query = (
        select(*(raw_value(c, conn.dialect.name) for c in columns))
        .join(entry, entry.c.seq == posting.c.entry_seq)
        .outerjoin(resolution, resolution.c.target_seq == entry.c.seq)
        .where(and_(entry.c.kind == "pending", resolution.c.seq.is_(None)))
    )
    holds: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for account_id, amount in conn.execute(query):
        if type(account_id) is not Unreadable and type(amount) is not Unreadable:
            holds[account_id][0 if amount < 0 else 1] += abs(amount)
    return {key: (value[0], value[1]) for key, value in holds.items()}
