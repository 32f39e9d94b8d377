"""Settling a closed window: issue instructions, book confirmed payments, finish or abort.

`start_settlement` turns the window's positions into instructions (at most one per
cooperative per currency via the network, or direct bilateral payments). Each confirmation
names the instruction's reference, the bank's reference and the amount: a wrong amount, an
unknown reference or a replay with another bank reference changes nothing. A confirmation
books one ledger entry in the same transaction:

    via the network:  debtor's due -A, network settlement +A   (money received)
                      creditor's due +A, network settlement -A (money paid out)
    bilateral:        payer's due -A, payee's due +A

so each cooperative's due account (and with it its net debit cap) is restored as it
settles. The network operator's own share (its fee income) is booked internally once every
bank payment is confirmed, which brings the network settlement account back to zero. The
network's side is booked on its own due account while its dues sit on its due accounts
for each cooperative: its total over all of them is what is restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from interchange.payment_store import database_now, load_coops
from interchange.registry_store import require_network
from interchange.routing import CoopParty
from interchange.tables import coop
from ledger.account import AccountKind, AccountSpec
from ledger.entry import EntryRequest, Leg
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.money import Money
from ledger.posting import post_entries
from ledger.service import open_account_in
from settlement.closing import WindowSummary, load_summary, record_event
from settlement.netting import (
    NETWORK,
    SettlementInstruction,
    SettlementMode,
    settlement_instructions,
)
from settlement.tables import instruction, window
from settlement.window_rules import (
    SettlementErrorCode,
    WindowError,
    WindowStatus,
    require_actor,
    require_bank_reference,
    require_can_abort,
    require_can_start,
    require_window_date,
)

__all__ = [
    "InstructionRow",
    "abort_settlement",
    "confirm_instruction",
    "start_settlement",
    "window_instructions",
]

_CODE = SettlementErrorCode


@dataclass(frozen=True, slots=True)
class InstructionRow:
    """A settlement payment to make; `None` as payer or payee means the network."""

    reference: str
    window_date: date
    payer_coop_id: int | None
    payee_coop_id: int | None
    amount: Money
    internal: bool
    status: str
    bank_reference: str | None


def _row(r: Any) -> InstructionRow:
    return InstructionRow(
        r.reference,
        r.window_date,
        r.payer_coop_id,
        r.payee_coop_id,
        Money(r.amount_minor, r.currency),
        r.internal,
        r.status,
        r.bank_reference,
    )


def window_instructions(conn: Connection, window_date: date) -> list[InstructionRow]:
    """The current round's instructions of a window, in reference order."""
    latest = (
        select(func.max(instruction.c.round))
        .where(instruction.c.window_date == window_date)
        .scalar_subquery()
    )
    query = (
        select(instruction)
        .where(instruction.c.window_date == window_date, instruction.c.round == latest)
        .order_by(instruction.c.reference)
    )
    return [_row(r) for r in conn.execute(query)]


def start_settlement(
    conn: Connection,
    window_date: date,
    *,
    mode: SettlementMode,
    actor: str,
    seal_key: bytes,
) -> list[InstructionRow]:
    """Issue the window's instructions and move it to settling (settled at once when there is
    nothing to pay through a bank). Checks the actor, then the window date, before reading
    anything; then the network operator (`network_not_registered`), then the window."""
    require_actor(actor)
    require_window_date(window_date)
    network_coop_id = require_network(conn).id
    locked = _lock_window(conn, window_date)
    summary = load_summary(conn, window_date)
    status = summary.status if summary else None
    require_can_start(status, summary.recompute_ok if summary else None)
    assert summary is not None and locked is not None
    settlement_account_id = _settlement_account(conn, network_coop_id, seal_key)
    positions = _positions_by_currency(summary)
    planned = settlement_instructions(positions, mode) if positions else ()
    round_no = 1 + (
        conn.execute(
            select(func.max(instruction.c.round)).where(instruction.c.window_date == window_date)
        ).scalar()
        or 0
    )
    rows = [
        _instruction_values(window_date, round_no, n, item, network_coop_id)
        for n, item in enumerate(planned, start=1)
    ]
    if rows:
        conn.execute(insert(instruction), rows)
    now = database_now(conn)
    conn.execute(
        update(window)
        .where(window.c.window_date == window_date)
        .values(status=WindowStatus.SETTLING.value, mode=mode.value)
    )
    record_event(conn, window_date, "start", actor, now, f"{len(rows)} instructions, {mode}")
    coops, _ = load_coops(conn)
    _finish_if_complete(conn, window_date, actor, coops, seal_key, settlement_account_id)
    return window_instructions(conn, window_date)


def _positions_by_currency(summary: WindowSummary) -> dict[str, dict[int, Money]]:
    positions: dict[str, dict[int, Money]] = {}
    for p in summary.positions:
        positions.setdefault(p.currency, {})[p.coop_id] = Money(p.net_minor, p.currency)
    return positions


def _instruction_values(
    window_date: date, round_no: int, n: int, item: SettlementInstruction, network_coop_id: int
) -> dict[str, object]:
    payer = None if item.payer is NETWORK else item.payer
    payee = None if item.payee is NETWORK else item.payee
    # The network paying its own operator moves no bank money: it is booked internally.
    internal = payer is None and payee == network_coop_id
    return {
        "window_date": window_date,
        "round": round_no,
        "reference": f"KN{window_date:%Y%m%d}R{round_no}N{n:05d}",
        "payer_coop_id": payer,
        "payee_coop_id": payee,
        "currency": item.amount.currency,
        "amount_minor": item.amount.amount_minor,
        "internal": internal,
        "status": "pending",
    }


def confirm_instruction(
    conn: Connection,
    reference: str,
    *,
    bank_reference: str,
    amount: Money,
    actor: str,
    seal_key: bytes,
) -> InstructionRow:
    """Book a confirmed settlement payment; settle the window when it was the last.

    Checks, in order: the actor, the bank's reference, the amount (money), then the
    instruction: found, not confirmed with another payment (reference and amount, in its
    currency), pending, for this amount. (`Settlement.confirm` refuses a reference that is
    not printable ASCII as `instruction_not_found` before all of these.)"""
    require_actor(actor)
    require_bank_reference(bank_reference)
    if not isinstance(amount, Money):
        raise WindowError(
            _CODE.INSTRUCTION_AMOUNT_INVALID, "the amount paid must be money", field="amount"
        )
    # The window first, as an abort and the round's last confirmation take it: otherwise
    # an abort would not wait for a booking in progress, and the round's last two
    # confirmations (bilateral, sharing no account) would each see the other pending.
    window_date = conn.execute(
        select(instruction.c.window_date).where(instruction.c.reference == reference)
    ).scalar_one_or_none()
    if window_date is not None:
        _lock_window(conn, window_date)
    row = conn.execute(
        select(instruction).where(instruction.c.reference == reference).with_for_update()
    ).first()
    if row is None:
        raise WindowError(
            _CODE.INSTRUCTION_NOT_FOUND, f"no instruction {reference!r}", field="reference"
        )
    if row.status == "confirmed":
        paid = (amount.currency, amount.amount_minor)
        if row.bank_reference == bank_reference and paid == (row.currency, row.amount_minor):
            return _row(row)
        raise WindowError(
            _CODE.INSTRUCTION_ALREADY_CONFIRMED,
            "confirmed with another payment",
            field="bank_reference",
        )
    if row.internal:
        raise WindowError(
            _CODE.INSTRUCTION_NOT_PENDING,
            "an internal instruction moves no bank money: it is booked once every bank payment is"
            " confirmed",
            field="reference",
        )
    if row.status != "pending":
        raise WindowError(
            _CODE.INSTRUCTION_NOT_PENDING, f"instruction is {row.status}", field="reference"
        )
    if (amount.currency, amount.amount_minor) != (row.currency, row.amount_minor):
        raise WindowError(
            _CODE.INSTRUCTION_AMOUNT_MISMATCH,
            f"expected {Money(row.amount_minor, row.currency)}",
            field="amount",
        )
    coops, network = load_coops(conn)
    settlement_account_id = _settlement_account(conn, network.accounts.coop_id, seal_key)
    _book(conn, [row], bank_reference, actor, coops, seal_key, settlement_account_id)
    _finish_if_complete(conn, row.window_date, actor, coops, seal_key, settlement_account_id)
    confirmed = conn.execute(select(instruction).where(instruction.c.reference == reference))
    return _row(confirmed.one())


def _lock_window(conn: Connection, window_date: date) -> Any:
    """The window's row, locked until the transaction ends (None if it was never closed):
    starting, confirming and aborting a round take it first, so they run one at a time."""
    return conn.execute(
        select(window).where(window.c.window_date == window_date).with_for_update()
    ).first()


def _settlement_account(conn: Connection, network_coop_id: int, seal_key: bytes) -> int:
    """The network's settlement account in the ledger, opened the first time it is needed."""
    currency = conn.execute(select(coop.c.currency).where(coop.c.id == network_coop_id)).scalar()
    assert currency is not None, "the network operator is registered"
    spec = AccountSpec(
        "network:settlement", network_coop_id, currency, AccountKind.SETTLEMENT, None
    )
    return open_account_in(conn, spec, seal_key=seal_key).id


def _legs(row: Any, coops: Mapping[int, CoopParty], settlement_account_id: int) -> tuple[Leg, ...]:
    amount = Money(row.amount_minor, row.currency)
    payer, payee = row.payer_coop_id, row.payee_coop_id
    payer_account = settlement_account_id if payer is None else coops[payer].accounts.due_account_id
    payee_account = settlement_account_id if payee is None else coops[payee].accounts.due_account_id
    return (Leg(payer_account, -amount), Leg(payee_account, amount))


def _book(
    conn: Connection,
    rows: list[Any],
    bank_reference: str,
    actor: str,
    coops: Mapping[int, CoopParty],
    seal_key: bytes,
    settlement_account_id: int,
) -> None:
    now = database_now(conn)
    requests = [
        EntryRequest(
            f"settle:{r.reference}",
            r.window_date,
            _legs(r, coops, settlement_account_id),
            metadata={"window_date": r.window_date.isoformat(), "bank_reference": bank_reference},
        )
        for r in rows
    ]
    for outcome in post_entries(conn, requests, seal_key=seal_key):
        if not outcome.ok:
            raise LedgerError(
                LedgerErrorCode(outcome.code or "entry_not_found"),
                outcome.message or "settlement entry refused",
            )
    for r, request in zip(rows, requests, strict=True):
        conn.execute(
            update(instruction)
            .where(instruction.c.id == r.id)
            .values(
                status="confirmed",
                bank_reference=bank_reference,
                confirmed_at=now,
                confirmed_by=actor,
                entry_id=request.entry_id,
            )
        )
        record_event(
            conn, r.window_date, "confirm", actor, now, f"{r.reference} by {bank_reference}"
        )


def _finish_if_complete(
    conn: Connection,
    window_date: date,
    actor: str,
    coops: Mapping[int, CoopParty],
    seal_key: bytes,
    settlement_account_id: int,
) -> None:
    rows = conn.execute(
        select(instruction).where(
            instruction.c.window_date == window_date, instruction.c.status == "pending"
        )
    ).all()
    if any(not r.internal for r in rows):
        return
    if rows:
        _book(conn, list(rows), "INTERNAL", actor, coops, seal_key, settlement_account_id)
    now = database_now(conn)
    conn.execute(
        update(window)
        .where(window.c.window_date == window_date)
        .values(status=WindowStatus.SETTLED.value, settled_at=now)
    )
    record_event(conn, window_date, "settle", actor, now, "every instruction confirmed")


def abort_settlement(conn: Connection, window_date: date, *, actor: str) -> None:
    """Cancel the current round's instructions and return the window to closed (the actor,
    then the window date, checked before anything is read)."""
    require_actor(actor)
    require_window_date(window_date)
    locked = _lock_window(conn, window_date)
    status = WindowStatus(locked.status) if locked else None
    confirmed = conn.execute(
        select(func.count())
        .select_from(instruction)
        .where(instruction.c.window_date == window_date, instruction.c.status == "confirmed")
    ).scalar()
    require_can_abort(status, int(confirmed or 0))
    now = database_now(conn)
    conn.execute(
        update(instruction)
        .where(instruction.c.window_date == window_date, instruction.c.status == "pending")
        .values(status="cancelled")
    )
    conn.execute(
        update(window)
        .where(window.c.window_date == window_date)
        .values(status=WindowStatus.CLOSED.value, mode=None)
    )
    record_event(conn, window_date, "abort", actor, now, "instructions cancelled")
