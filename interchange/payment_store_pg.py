"""PostgreSQL's fast path for a payment batch: its load in one round trip, its writes in the
pipeline of its commit.

One pipeline, sent with the transaction's BEGIN: the first statement works out the window
of the transaction's clock (`now()`, the same in every statement of it) in SQL, by the same
rule as `interchange.window.WindowCalendar`, and takes the window's shared advisory lock;
the next check the window is still open, lock the payments named as originals, and load the
payments, members, merchants, the newest fee schedule version, the members the named
authorizations hold from, their merchants' criteria and when their holds expire, and the
daily totals: the members' totals of the day (created at zero where missing, then locked,
so that two batches with one member's first payments of the day wait for each other) and
the totals the open authorizations named would give back to, locked in the same statement,
in key order. A batch that names no payment (plain purchases, transfers, cash) sends
neither the originals' statements nor the look-ups of what they would give back or price.
Last, the batch takes the shared status locks of the cooperatives it names
(`interchange.coop_status_lock`), then reads them in the next statement, by the ids the
lock statement left in a setting local to the transaction. If the window closed while the
batch waited for its lock, the batch starts again in a new transaction, whose clock is past
the cut-off (`TransactionRetryError`). The writes (`write_batch`), the originals' refunded
amounts and authorizations' statuses among them, join the caller's pipeline: the rows they
change were locked by the load. Each write is one statement however many rows, its rows
sent as one array a column (`ledger.pg_arrays`). Statements are fixed texts with bound
parameters. Lock order as in `interchange.payment_store`. Never commits.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import BigInteger, Connection, Date, Integer, String, Table
from sqlalchemy.types import TypeEngine

from interchange import tables
from interchange.coop_status_lock import COOP_LOCK_CLASS
from interchange.daily_totals import DailyKey
from interchange.payment_model import PaymentRecord, PaymentStatus
from interchange.payment_records import record_from_row
from interchange.payment_store import (
    WINDOW_LOCK_CLASS,
    coop_party,
    require_later_window,
    window_key,
)
from interchange.routing_model import CoopParty, MemberParty, MerchantParty
from interchange.window import WindowCalendar
from ledger.db import TransactionRetryError, driver, pipeline_begun, pipelined
from ledger.pg_arrays import Int4s, Int8s, Texts
from ledger.store import row_ids

__all__ = ["BatchLoad", "load_batch", "write_batch"]

# The window of the transaction's clock; parameters: time zone, cut-off in seconds.
_WINDOW = "(((now() AT TIME ZONE %s) - make_interval(secs => %s))::date + 1)"
_ENTER = (
    "SELECT now(), d, pg_advisory_xact_lock_shared(%s,"
    " (extract(year FROM d) * 10000 + extract(month FROM d) * 100 + extract(day FROM d))::int)"
    f" FROM (SELECT {_WINDOW} AS d) AS w"
)
_CLOSED = f"SELECT 1 FROM interchange_window_close WHERE window_date = {_WINDOW}"
_PAYMENTS = "SELECT * FROM interchange_payment WHERE payment_id = ANY(%s::text[])"
_PAYMENTS_LOCKED = _PAYMENTS + " ORDER BY id FOR UPDATE"
# Only the coops the batch names (and the network): the work per batch must not grow with
# the number of coops in the network.
_NAMED_COOPS = (
    "SELECT id FROM interchange_coop WHERE is_network"
    " UNION SELECT unnest(%s::bigint[])"
    " UNION SELECT coop_id FROM interchange_member WHERE id = ANY(%s::bigint[])"
    " UNION SELECT coop_id FROM interchange_merchant WHERE network_merchant_id = ANY(%s::text[])"
    " UNION SELECT issuer_coop_id FROM interchange_payment WHERE payment_id = ANY(%s::text[])"
    " UNION SELECT acquirer_coop_id FROM interchange_payment WHERE payment_id = ANY(%s::text[])"
)
# Their status locks, shared, in id order (`interchange.coop_status_lock`). The coops are
# read by the next statement, whose snapshot is taken once the locks are held, so a batch
# that waited for a status change reads the new status; a read in the lock's own statement
# would see its snapshot from before the wait. The lock statement leaves the ids it locked
# in a setting local to the transaction, which the read takes them from: the members,
# merchants and payments named are looked up once, and the coops read are those locked.
_LOCKED_COOPS = "kopnet.batch_locked_coop_ids"
_LOCK_COOPS = (
    f"SELECT set_config('{_LOCKED_COOPS}', coalesce(array_agg(named.id), '{{}}')::text, true)"
    # A subquery whose output calls a volatile function is neither merged into the query
    # around it nor stripped of that output: each lock is taken, in the order of `ordered`.
    " FROM (SELECT ordered.id, pg_advisory_xact_lock_shared(%s, ordered.id::int)"
    f" FROM ({_NAMED_COOPS} ORDER BY id) AS ordered) AS named"
)
_COOPS = (
    "SELECT id, status, currency, is_network, net_debit_cap_minor, cash_account_id,"
    " fee_account_id, due_account_id, network_fee_account_id, network_due_account_id"
    f" FROM interchange_coop WHERE id = ANY(current_setting('{_LOCKED_COOPS}')::bigint[])"
)
_MEMBERS = (
    "SELECT m.id, m.coop_id, m.status, m.kyc_tier, w.account_id FROM interchange_member m"
    " JOIN interchange_member_wallet w ON w.member_id = m.id AND w.label = 'main'"
    " WHERE m.id = ANY(%s::bigint[])"
)
_MERCHANTS = (
    "SELECT id, coop_id, status, network_merchant_id, criteria, wallet_account_id"
    " FROM interchange_merchant WHERE network_merchant_id = ANY(%s::text[])"
)
_SCHEDULE_VERSION = "SELECT max(version) FROM interchange_fee_schedule"
# Every member's total for the day exists before it is locked: a total that is missing
# would lock nothing, and a concurrent batch of the same member could create it, commit,
# and leave this batch counting from zero (past the daily limit). Creating it waits for
# a concurrent batch that is creating it; both statements go in member order.
_OPEN_DAILY = (
    "INSERT INTO interchange_member_daily (member_id, business_date, spent_minor)"
    f" SELECT id, {_WINDOW}, 0 FROM interchange_member WHERE id = ANY(%s::bigint[])"
    " ORDER BY id ON CONFLICT (member_id, business_date) DO NOTHING"
)
# The named authorizations with the members whose wallets they hold from (the day's totals
# they would give back to are locked by it).
_AUTH_PAYERS = (
    " FROM interchange_payment p"
    " JOIN interchange_member_wallet w ON w.account_id = p.payer_account_id"
    " WHERE p.payment_id = ANY(%s::text[]) AND p.kind = 'authorization'"
)
# What routing needs of the named authorizations: the member each holds from, its
# merchant's criteria (a capture for less prices again at them) and when its hold expires
# (the ledger's entry is joined by the id the payment keeps).
_AUTH_TERMS = (
    "SELECT p.payment_id, w.member_id, m.id AS merchant_id, m.criteria, e.expires_at"
    " FROM interchange_payment p"
    " LEFT JOIN interchange_member_wallet w ON w.account_id = p.payer_account_id"
    " LEFT JOIN interchange_merchant m ON m.id = p.merchant_id"
    " LEFT JOIN ledger_entry e ON e.entry_id = p.entry_id"
    " WHERE p.payment_id = ANY(%s::text[]) AND p.kind = 'authorization'"
)
_SELECT_DAILY = "SELECT member_id, business_date, spent_minor FROM interchange_member_daily"
_LOCK_DAILY = " ORDER BY member_id, business_date FOR UPDATE"
# The window day's totals of these members, for a batch that names no payment (plain
# purchases, transfers, cash): nothing can be given back, so only the day's totals are locked.
_MEMBERS_DAY_TOTALS = (
    _SELECT_DAILY + f" WHERE member_id = ANY(%s::bigint[]) AND business_date = {_WINDOW}"
) + _LOCK_DAILY
# The window day's totals of these members and those the open authorizations named would
# give back to (the day each counted against): a set of (member, day) keys, in one
# statement so that they lock in key order. A semi-join, not an OR, so that each total is
# found by its key.
_MEMBERS_DAY_AND_RELEASE_TOTALS = (
    _SELECT_DAILY + " WHERE (member_id, business_date) IN ("
    f" SELECT unnest(%s::bigint[]), {_WINDOW}"
    " UNION SELECT w.member_id, p.business_date" + _AUTH_PAYERS + " AND p.status = 'authorized')"
) + _LOCK_DAILY


@dataclass(frozen=True, slots=True)
class BatchLoad:
    """Everything a payment batch reads before it routes."""

    now: datetime
    window_date: date
    payments: dict[str, PaymentRecord]
    coops: dict[int, CoopParty]
    network: CoopParty
    members: dict[int, MemberParty]
    merchants: dict[str, MerchantParty]
    schedule_version: int
    # Authorization payment id -> the member it holds from.
    payers: dict[str, int]
    # Every daily total the batch locked, by (member id, business date).
    daily: dict[DailyKey, int]
    # The criteria of the named authorizations' merchants, by merchant id.
    merchant_criteria: dict[int, str]
    # When each named authorization's hold expires, by its payment id.
    hold_expires_at: dict[str, datetime]
    # The payments the batch locked: the originals its commands name, by payment id.
    locked: frozenset[str]


def load_batch(
    conn: Connection,
    calendar: WindowCalendar,
    *,
    referenced: Collection[str],
    requested: Collection[str],
    member_ids: Collection[int],
    merchant_ids: Collection[str],
    coop_ids: Collection[int],
) -> BatchLoad:
    """Join the window and load the batch's parties and payments, locked where needed.

    The coops loaded are the network, `coop_ids` and those of the members, merchants and
    referenced payments."""
    pg = driver(conn)
    members, coops = Int8s(row_ids(member_ids)), Int8s(row_ids(coop_ids))
    shops, originals = Texts(sorted(merchant_ids)), Texts(sorted(referenced))
    window = (calendar.time_zone, calendar.cutoff_s)
    with pipeline_begun(pg):
        enter = pg.execute(_ENTER, (WINDOW_LOCK_CLASS, *window))
        cursors = [pg.cursor(row_factory=namedtuple_row) for _ in range(9)]
        cursors[0].execute(_CLOSED, window)
        if originals:
            cursors[1].execute(_PAYMENTS_LOCKED, (originals,))
            cursors[8].execute(_AUTH_TERMS, (originals,))
        cursors[2].execute(_PAYMENTS, (Texts(sorted(set(requested) - set(referenced))),))
        cursors[4].execute(_MEMBERS, (members,))
        cursors[5].execute(_MERCHANTS, (shops,))
        cursors[6].execute(_SCHEDULE_VERSION)
        pg.execute(_OPEN_DAILY, (*window, members))
        if originals:
            cursors[7].execute(_MEMBERS_DAY_AND_RELEASE_TOTALS, (members, *window, originals))
        else:
            # Nothing named can give allowance back: the day's totals are all to lock.
            cursors[7].execute(_MEMBERS_DAY_TOTALS, (members, *window))
        # Last: each statement sees what had committed when it started, so a member or
        # merchant found above is sure to find its coop (coops are never deleted).
        named = (coops, members, shops, originals, originals)
        pg.execute(_LOCK_COOPS, (COOP_LOCK_CLASS, *named))
        cursors[3].execute(_COOPS)
    moment, window_date, _ = enter.fetchone()
    now = moment.astimezone(UTC)
    assert window_date == calendar.window_date(now), "SQL and Python windows agree"
    assert window_key(window_date) > 0
    if cursors[0].fetchone() is not None:
        require_later_window(conn, calendar, window_date)
        raise TransactionRetryError(f"window {window_date} closed while the batch waited for it")
    return _assemble(now, window_date, cursors, names_payments=bool(originals))


def _assemble(
    now: datetime, window_date: date, cursors: list[Any], *, names_payments: bool
) -> BatchLoad:
    """The batch's load from the pipeline's cursors; those of the originals and of what
    routing needs of them (1 and 8) were sent only if the batch names payments."""
    originals = cursors[1].fetchall() if names_payments else []
    payments = {row.payment_id: record_from_row(row) for row in originals}
    payments.update({row.payment_id: record_from_row(row) for row in cursors[2].fetchall()})
    coops: dict[int, CoopParty] = {}
    network = None
    for row in cursors[3].fetchall():
        coops[row.id] = coop_party(row)
        if row.is_network:
            network = coops[row.id]
    assert network is not None, "the network operator must be registered first"
    members = {
        row.id: MemberParty(
            row.id, row.coop_id, row.status == "active", row.kyc_tier, row.account_id
        )
        for row in cursors[4].fetchall()
    }
    merchants = {
        row.network_merchant_id: MerchantParty(
            row.id,
            row.coop_id,
            row.status == "active",
            row.network_merchant_id,
            row.criteria,
            row.wallet_account_id,
        )
        for row in cursors[5].fetchall()
    }
    version = cursors[6].fetchone()[0] or 0
    daily = {(row.member_id, row.business_date): row.spent_minor for row in cursors[7].fetchall()}
    terms = cursors[8].fetchall() if names_payments else []
    payers, criteria, expiry = _authorization_terms(terms, payments)
    return BatchLoad(
        now,
        window_date,
        payments,
        coops,
        network,
        members,
        merchants,
        version,
        payers,
        daily,
        merchant_criteria=criteria,
        hold_expires_at=expiry,
        locked=frozenset(row.payment_id for row in originals),
    )


def _authorization_terms(
    rows: list[Any], payments: dict[str, PaymentRecord]
) -> tuple[dict[str, int], dict[int, str], dict[str, datetime]]:
    """From `_AUTH_TERMS`' rows: the member each named authorization holds from, by payment
    id; its merchant's criteria, by merchant id; when its hold expires, by payment id. As
    `load_payers`, `load_merchant_criteria` and `load_hold_expiry` give them."""
    # Only the authorizations the originals' statement found: one committed between the two
    # statements is not among the batch's payments.
    found = [r for r in rows if r.payment_id in payments]
    assert all(payments[r.payment_id].merchant_id == r.merchant_id for r in found if r.merchant_id)
    payers = {r.payment_id: r.member_id for r in found if r.member_id is not None}
    criteria = {r.merchant_id: r.criteria for r in found if r.merchant_id is not None}
    expiry = {r.payment_id: r.expires_at.astimezone(UTC) for r in found if r.expires_at is not None}
    return payers, criteria, expiry


# Each write sends its table's columns (`interchange.tables`) as one array a column: one
# statement a table however many rows. A column's array and SQL element type follow from
# its SQLAlchemy type, BigInteger before Integer, which it subclasses.
# A list's typed copy: what `ledger.pg_arrays` sends in binary (a plain list for dates).
_Array = Callable[[list[Any]], list[Any]]
_ARRAYS_BY_TYPE: tuple[tuple[type[TypeEngine[Any]], _Array, str], ...] = (
    (BigInteger, Int8s, "bigint"),
    (Integer, Int4s, "integer"),
    (String, Texts, "text"),
    (Date, list, "date"),
)
_Columns = tuple[tuple[str, _Array, str], ...]


def _columns(table: Table, *, left_out: tuple[str, ...] = ()) -> _Columns:
    """`table`'s columns but `left_out`, each with its array and SQL element type."""
    columns = []
    for column in table.columns:
        if column.name not in left_out:
            typed = [(a, k) for t, a, k in _ARRAYS_BY_TYPE if isinstance(column.type, t)]
            assert typed, f"no array type for {table.name}.{column.name}"
            columns.append((column.name, *typed[0]))
    return tuple(columns)


def _insert(table: Table, columns: _Columns, *, moment_column: str | None = None) -> str:
    """INSERT of `columns` from one array each; `moment_column`, if named, is set to one
    timestamp, the parameter sent before the arrays."""
    names = [name for name, _, _ in columns] + ([moment_column] if moment_column else [])
    moment = ", %b::timestamptz" if moment_column else ""
    arrays = ", ".join(f"%b::{kind}[]" for _, _, kind in columns)
    return f"INSERT INTO {table.name} ({', '.join(names)}) SELECT *{moment} FROM unnest({arrays})"


def _add_on_conflict(table: Table, sums: tuple[str, ...]) -> str:
    """What `_insert` adds to a row whose primary key exists already: the `sums` columns."""
    key = ", ".join(column.name for column in table.primary_key)
    added = ", ".join(f"{c} = {table.name}.{c} + EXCLUDED.{c}" for c in sums)
    return f" ON CONFLICT ({key}) DO UPDATE SET {added}"


# A payment's `id` is its table's to draw; its `created_at` is one moment for the whole
# batch, sent once.
_PAYMENT_COLUMNS = _columns(tables.payment, left_out=("id", "created_at"))
_OBLIGATION_COLUMNS = _columns(tables.obligation)
_DAILY_COLUMNS = _columns(tables.member_daily)
_INSERT_PAYMENTS = _insert(tables.payment, _PAYMENT_COLUMNS, moment_column="created_at")
# The rows are sums per key (`obligation_rows`, `daily_rows`): each key comes once, so no
# row is changed twice by one statement.
_ADD_OBLIGATIONS = _insert(tables.obligation, _OBLIGATION_COLUMNS) + _add_on_conflict(
    tables.obligation, ("amount_minor", "payment_count")
)
_ADD_DAILY = _insert(tables.member_daily, _DAILY_COLUMNS) + _add_on_conflict(
    tables.member_daily, ("spent_minor",)
)
_RELEASE_DAILY = (
    "UPDATE interchange_member_daily SET spent_minor = GREATEST(spent_minor - %s, 0)"
    " WHERE member_id = %s AND business_date = %s"
)
# One statement each for every original refunded and every authorization resolved; the
# payment ids are distinct (keys of a mapping), so each row changes once.
_ADD_REFUNDED = (
    "UPDATE interchange_payment p SET refunded_minor = p.refunded_minor + r.refunded_minor"
    " FROM unnest(%s::text[], %s::bigint[]) AS r (payment_id, refunded_minor)"
    " WHERE p.payment_id = r.payment_id"
)
_SET_STATUS = (
    "UPDATE interchange_payment p SET status = s.status"
    " FROM unnest(%s::text[], %s::text[]) AS s (payment_id, status)"
    " WHERE p.payment_id = s.payment_id"
)


def write_batch(
    conn: Connection,
    payments: list[dict[str, Any]],
    obligations: list[dict[str, Any]],
    daily: list[dict[str, Any]],
    released: list[dict[str, Any]],
    refunds: Mapping[str, int],
    statuses: Mapping[str, PaymentStatus],
) -> None:
    """Add the refunded amounts to the originals and move the authorizations to their new
    status (as `interchange.payment_records.resolve_payments` does), insert the payment
    rows, add the obligations and daily totals and take the released allowances off: one
    round trip, or queued in the caller's pipeline if one is open (`ledger.db.commit_with`).

    The originals and authorizations resolved must have been locked by the load
    (`load_batch` locks those it names), so that a concurrent batch cannot have planned
    from the same amounts. Obligation and daily rows come sorted by key and each key once
    (`obligation_rows`, `daily_rows`, `release_rows`), so concurrent batches update them in
    the same order and no statement changes a row twice. The payment rows were made at one
    moment (`payment_rows`), their `created_at`."""
    pg = driver(conn)
    with pipelined(pg):
        cursor = pg.cursor()
        if refunds:
            originals = sorted(refunds)
            amounts = Int8s([refunds[p] for p in originals])
            cursor.execute(_ADD_REFUNDED, (Texts(originals), amounts))
        if statuses:
            authorizations = sorted(statuses)
            values = Texts([statuses[p].value for p in authorizations])
            cursor.execute(_SET_STATUS, (Texts(authorizations), values))
        if payments:
            created_at = payments[0]["created_at"]
            assert all(r["created_at"] == created_at for r in payments), "one moment a batch"
            cursor.execute(_INSERT_PAYMENTS, (created_at, *_arrays(payments, _PAYMENT_COLUMNS)))
        if obligations:
            assert _keys_unique(obligations, tables.obligation)
            cursor.execute(_ADD_OBLIGATIONS, _arrays(obligations, _OBLIGATION_COLUMNS))
        if daily:
            assert _keys_unique(daily, tables.member_daily)
            cursor.execute(_ADD_DAILY, _arrays(daily, _DAILY_COLUMNS))
        if released:
            cursor.executemany(
                _RELEASE_DAILY,
                [(r["released_minor"], r["member_id"], r["business_date"]) for r in released],
            )


def _arrays(rows: list[dict[str, Any]], columns: _Columns) -> list[list[Any]]:
    """The rows' values, one array a column."""
    return [array([row[name] for row in rows]) for name, array, _ in columns]


def _keys_unique(rows: list[dict[str, Any]], table: Table) -> bool:
    """Whether no two rows share a primary key of `table`."""
    key = [column.name for column in table.primary_key]
    return len({tuple(row[name] for name in key) for row in rows}) == len(rows)
