"""Joining a payment batch's window and loading what its commands name, and nothing else.

Their members, merchants and payments, and only the coops these (or cash counters) belong
to, with the network: the work per batch does not grow with the number of coops. Of the
authorizations named, the members they hold from, their merchants' criteria and when their
holds expire; nothing of a payment loaded only as a command's own (a replay). Locks are
taken in the order of `interchange.payment_store`: the window, the originals the batch
names, the daily totals, then (on PostgreSQL) the status locks of the coops it reads.
On PostgreSQL `interchange.payment_store_pg` sends it all as one pipeline; elsewhere the
store's loaders run one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from interchange.daily_totals import load_payers, lock_daily, releasable_keys
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentKind,
    QrPurchase,
    Refund,
    Transfer,
    Void,
    storable_payment_ids,
)
from interchange.payment_records import load_hold_expiry, load_payments
from interchange.payment_store import (
    enter_window,
    load_coops,
    load_members,
    load_merchant_criteria,
    load_merchants,
    load_schedule_version,
)
from interchange.payment_store_pg import BatchLoad, load_batch
from interchange.routing import ParsedCommand
from interchange.window import WindowCalendar

__all__ = ["PartiesNamed", "load_named", "parties_named"]


@dataclass(frozen=True, slots=True)
class PartiesNamed:
    """The ids a group of commands names: members, merchants (by network id, from their
    codes), the cooperatives of cash counters, and payments (originals, authorizations)."""

    member_ids: set[int] = field(default_factory=set)
    merchant_ids: set[str] = field(default_factory=set)
    counter_coop_ids: set[int] = field(default_factory=set)
    payment_ids: set[str] = field(default_factory=set)


def parties_named(parsed: Sequence[ParsedCommand]) -> PartiesNamed:
    """What `parsed` names, for a batch's load and a quote's: pure."""
    named = PartiesNamed()
    for item in parsed:
        command = item.command
        if isinstance(command, QrPurchase | Authorize):
            named.member_ids.add(command.payer_member_id)
        elif isinstance(command, CashIn | CashOut):
            named.member_ids.add(command.member_id)
            named.counter_coop_ids.add(command.counter_coop_id)
        elif isinstance(command, Transfer):
            named.member_ids.update((command.payer_member_id, command.payee_member_id))
        elif isinstance(command, Refund):
            named.payment_ids.add(command.original_payment_id)
        elif isinstance(command, Capture | Void):
            named.payment_ids.add(command.authorization_id)
        if item.qr is not None:
            named.merchant_ids.add(item.qr.merchant_network_id)
    return named


def load_named(
    conn: Connection, parsed: Sequence[ParsedCommand], calendar: WindowCalendar
) -> BatchLoad:
    """Join the window and load what the commands name, and nothing else: their members,
    merchants and payments, and only the coops these (or cash counters) belong to, with the
    network; of the authorizations named, their payers, their merchants' criteria and when
    their holds expire. One round trip on PostgreSQL
    (`interchange.payment_store_pg.load_batch`)."""
    named = parties_named(parsed)
    member_ids, merchant_ids = named.member_ids, named.merchant_ids
    counter_coop_ids = named.counter_coop_ids
    # A named payment no payment can be is not looked up: its command finds none.
    referenced = storable_payment_ids(named.payment_ids)
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
    return _load_one_by_one(
        conn, calendar, referenced, requested, member_ids, merchant_ids, counter_coop_ids
    )


def _load_one_by_one(
    conn: Connection,
    calendar: WindowCalendar,
    referenced: set[str],
    requested: set[str],
    member_ids: set[int],
    merchant_ids: set[str],
    counter_coop_ids: set[int],
) -> BatchLoad:
    """`load_batch`'s load, one statement at a time, in the same lock order."""
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
    authorizations = [p for p in originals if p.kind is PaymentKind.AUTHORIZATION]
    shops_named = {p.merchant_id for p in authorizations if p.merchant_id is not None}
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
        merchant_criteria=load_merchant_criteria(conn, shops_named),
        hold_expires_at=load_hold_expiry(conn, authorizations),
        locked=frozenset(p.payment_id for p in originals),
    )
