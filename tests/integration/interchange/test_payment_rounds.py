"""A batch run in rounds: commands that must see an earlier command's outcome go in a later
transaction (`batch_dependents.split_dependents`): `submit_batch` runs the rounds itself, and
a caller of `submit` whose command waits submits it again, joining a later group. A ledger
idempotency conflict on a payment's entry restarts the batch only if the payment has been
recorded meanwhile (`batch_posting._post`).

Checked on both engines: a mixed batch gets one outcome per command, in order, across
rounds; a command's outcome does not depend on an unrelated neighbour deferring it; a
payment whose entry id another entry already holds is refused, not raised; and callers
sharing a group-commit batch get their own command's outcome, first-hand and without
waiting for other callers' later rounds.

Callers are made to share one group-commit batch by a committer whose single worker is
held on a gate (`gated_committer`): the first unit blocks it, the rest queue behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from interchange.payment_batch import parse_or_refuse
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    PaymentCommand,
    PaymentOutcome,
    QrPurchase,
    Refund,
)
from interchange.payments import BATCH_COMMANDS_MAX, Payments
from interchange.routing_model import ParsedCommand
from ledger.entry import EntryRequest, Leg
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.group_commit import GroupCommitter
from tests.integration.interchange.test_payments_books import World, snapshot
from tests.network import idr, qr_for

WAIT_S_MAX = 30.0


def gated_committer(
    payments: Payments, fail_call: int | None = None
) -> tuple[GroupCommitter[ParsedCommand, PaymentOutcome | None], threading.Event, threading.Event]:
    """Give `payments` a committer with one worker whose first batch waits for the gate
    (`entered` is set once it does); its call number `fail_call`, if given, fails before
    it touches the database."""
    gate, entered = threading.Event(), threading.Event()
    calls = [0]

    def handle(items: Sequence[ParsedCommand]) -> list[PaymentOutcome | None]:
        calls[0] += 1
        if calls[0] == 1:
            entered.set()
            assert gate.wait(WAIT_S_MAX), "the gate was never opened"
        if calls[0] == fail_call:
            raise LedgerError(LedgerErrorCode.CONTENTION_RETRIES_EXHAUSTED, "busy")
        return payments._submit_parsed(items)

    payments._committer.close()
    committer: GroupCommitter[ParsedCommand, PaymentOutcome | None] = GroupCommitter(
        handle, batch_size_max=BATCH_COMMANDS_MAX, workers=1, name="test-commit"
    )
    payments._committer = committer
    return committer, gate, entered


def submitted_together(
    payments: Payments,
    occupier: PaymentCommand,
    commands: Sequence[PaymentCommand],
    *,
    fail_call: int | None = None,
    before_release: Callable[[list[Future[PaymentOutcome]]], None] | None = None,
) -> tuple[PaymentOutcome, list[PaymentOutcome]]:
    """Submit `commands` from one thread each while `occupier` holds the only worker,
    then let it go: the worker takes every queued command in its next batch."""
    committer, gate, entered = gated_committer(payments, fail_call)
    queue = committer._queue
    with ThreadPoolExecutor(max_workers=1 + len(commands)) as pool:
        busy = pool.submit(payments.submit, occupier)
        assert entered.wait(WAIT_S_MAX), "the worker never took the occupier"
        deadline = time.monotonic() + WAIT_S_MAX
        futures = []
        for n, command in enumerate(commands, start=1):
            futures.append(pool.submit(payments.submit, command))
            while queue.qsize() < n:
                assert time.monotonic() < deadline, "the command was never queued"
                time.sleep(0.002)
        if before_release is not None:
            before_release(futures)
        gate.set()
        return busy.result(timeout=WAIT_S_MAX), [f.result(timeout=WAIT_S_MAX) for f in futures]


def parsed(command: PaymentCommand) -> ParsedCommand:
    item = parse_or_refuse(command)
    assert isinstance(item, ParsedCommand), item
    return item


def summary(outcomes: Sequence[PaymentOutcome]) -> list[tuple[str, str | None]]:
    return [(o.payment_id, None if o.code is None else str(o.code)) for o in outcomes]


def counting_commits(w: World) -> Callable[[], int]:
    """Start counting the engine's commits; return the count so far."""
    count = [0]

    def on_commit(_conn: object) -> None:
        count[0] += 1

    event.listen(w.net.services.engine, "commit", on_commit)
    return lambda: count[0]


# Outcomes of a batch run in rounds


def test_a_mixed_batch_gets_one_outcome_per_command_in_order_across_rounds(w: World) -> None:
    """Refusals from parsing, repeats of a processed id and of a deferred id (same request
    and different request), and refunds deferred twice: each outcome lands at its own
    command's place, and refunds in later rounds see the earlier ones."""
    payments = w.net.services.payments
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    commands: list[PaymentCommand] = [
        Refund("r-1", "buy", idr(6_000)),
        Refund("bad id!", "buy", idr(1_000)),
        Refund("r-2", "buy", idr(3_000)),  # waits for r-1
        Refund("r-1", "buy", idr(6_000)),  # repeat of r-1: its outcome
        Refund("r-3", "buy", idr(3_000)),  # waits for r-2: exceeds what is left
        Refund("r-2", "buy", idr(3_000)),  # repeat of a deferred command
        Refund("r-2", "buy", idr(2_000)),  # same deferred id, another request
        QrPurchase("p-1", w.budi.id, qr_for(w.warung), idr(1_000)),
    ]
    outcomes = payments.submit_batch(commands)
    assert summary(outcomes) == [
        ("r-1", None),
        ("bad id!", "payment_id_invalid"),
        ("r-2", None),
        ("r-1", None),
        ("r-3", "refund_exceeds_original"),
        ("r-2", None),
        ("r-2", "payment_exists_with_different_request"),
        ("p-1", None),
    ]
    assert [o.replayed for o in outcomes] == [False, False, False, True, False, True, False, False]
    assert outcomes[3].payment == outcomes[0].payment
    assert outcomes[5].payment == outcomes[2].payment
    assert payments.payment("buy").refunded == idr(9_000)


def test_a_repeat_of_a_refused_id_with_another_request_is_a_conflict_whatever_its_neighbours(
    w: World,
) -> None:
    """One payment id sent twice in a batch with different requests, the first refused
    (`original_not_found`): the second is `payment_exists_with_different_request`, with or
    without an unrelated refund of the same original between them. The repeat used to be
    deferred with the neighbour's refund to the next round, where it no longer saw its
    first occurrence and was recorded."""
    payments = w.net.services.payments
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    alone = payments.submit_batch(
        [Refund("p", "no-such-purchase", idr(1_000)), Refund("p", "buy", idr(1_000))]
    )
    assert summary(alone) == [
        ("p", "original_not_found"),
        ("p", "payment_exists_with_different_request"),
    ]
    with_neighbour = payments.submit_batch(
        [
            Refund("q", "no-such-purchase", idr(1_000)),
            Refund("r-0", "buy", idr(1_000)),
            Refund("q", "buy", idr(1_000)),
        ]
    )
    assert summary(with_neighbour) == [
        ("q", "original_not_found"),
        ("r-0", None),
        ("q", "payment_exists_with_different_request"),
    ]


# A ledger idempotency conflict that no fresh transaction resolves


def test_a_payment_whose_entry_id_another_entry_holds_is_refused_not_raised(w: World) -> None:
    """An entry `pay:x` posted through the ledger by something other than a payment (an
    operator's correction, a migration), then a purchase `x`: the purchase is refused with
    the ledger's `exists_with_*` and its neighbour goes through. A conflict on a payment's
    entry restarts the batch only if the payment has been recorded meanwhile; it used to
    restart it every time, until `contention_retries_exhausted` reached the caller."""
    net = w.net
    payments, ledger = net.services.payments, net.services.ledger
    day = payments._settings.calendar.window_date(datetime.now(UTC))
    ledger.post(
        EntryRequest(
            "pay:x",
            day,
            (Leg(w.ani.wallet_account_id, -idr(1)), Leg(w.budi.wallet_account_id, idr(1))),
        )
    )
    before = snapshot(net.services.engine)
    try:
        outcomes = payments.submit_batch(
            [
                QrPurchase("x", w.citra.id, qr_for(w.toko), idr(1_000)),
                CashIn("y", w.budi.id, w.ksb.id, idr(100_000)),
            ]
        )
    except LedgerError as error:
        pytest.fail(f"submit_batch raised {error.code}: {error}")
    x, y = outcomes
    assert (x.ok, str(x.code).startswith("exists_with_")) == (False, True), x
    assert y.ok, y
    assert len(snapshot(net.services.engine).payments) == len(before.payments) + 1


# Callers sharing a group-commit batch that runs in rounds


def test_a_group_that_fails_is_run_again_unit_by_unit_without_false_replays(w: World) -> None:
    """Two tellers refund one purchase; the group committer takes both in one batch. Each
    round is its own group: r-1 goes in it, r-2 waits and is submitted again. The first
    attempt of the shared group fails before it commits anything (here:
    `contention_retries_exhausted`, as a group under load can); the committer runs each
    unit again alone. Both refunds are recorded, and r-1's caller, who sent it once, is not
    told it was a replay (which it was when one group ran all rounds and lost the
    outcomes of those that had committed)."""
    payments = w.net.services.payments
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    occupier = QrPurchase("occupy", w.budi.id, qr_for(w.warung), idr(1_000))
    busy, (r_1, r_2) = submitted_together(
        payments,
        occupier,
        [Refund("r-1", "buy", idr(1_000)), Refund("r-2", "buy", idr(1_000))],
        fail_call=2,
    )
    assert busy.ok
    assert (r_1.ok, r_1.replayed, r_2.ok, r_2.replayed) == (True, False, True, False)
    assert payments.payment("buy").refunded == idr(2_000)


def test_a_caller_in_the_first_round_does_not_wait_for_other_callers_later_rounds(
    w: World,
) -> None:
    """A purchase shares a group-commit batch with 20 other callers' refunds of one
    purchase. The purchase commits in the group's transaction and its caller is answered
    then; the refunds that wait for each other are submitted again by their callers, one
    more group each. Before, the purchase's caller waited for all 21 transactions (with
    2,000 refunds of one purchase, about 16-18 s on an idle machine here)."""
    payments = w.net.services.payments
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    refunds: list[PaymentCommand] = [Refund(f"r-{i}", "buy", idr(1)) for i in range(20)]
    commits = counting_commits(w)
    answered_after: list[int] = []
    occupier = CashIn("occupy", w.budi.id, w.ksb.id, idr(100_000))
    purchase = QrPurchase("p-1", w.citra.id, qr_for(w.warung), idr(1_000))

    def watch(futures: list[Future[PaymentOutcome]]) -> None:
        futures[0].add_done_callback(lambda _f: answered_after.append(commits()))

    busy, outcomes = submitted_together(
        payments, occupier, [purchase, *refunds], before_release=watch
    )
    assert busy.ok
    assert all(o.ok for o in outcomes), summary(outcomes)
    assert commits() == 1 + 20, "the occupier, then one transaction per refund"
    # Answered when its group committed: the second transaction, or a little later when
    # the callers' submissions fell into two drains or the other committer thread
    # committed a resubmitted refund in between; never after the later rounds.
    assert len(answered_after) == 1 and answered_after[0] <= 4, answered_after
    assert payments.payment("buy").refunded == idr(20)


def test_a_refund_of_a_capture_made_in_the_same_batch_runs_after_the_capture(w: World) -> None:
    """An authorization, its capture and a refund of the capture in one `submit_batch`
    run in that order and all succeed. The refund used to run in the first round, before
    the capture (itself deferred), and was refused as `original_not_found`."""
    commands: list[PaymentCommand] = [
        Authorize("auth-1", w.ani.id, qr_for(w.toko), idr(40_000)),
        Capture("cap-1", "auth-1"),
        Refund("ref-1", "cap-1", idr(10_000)),
    ]

    outcomes = w.net.services.payments.submit_batch(commands)

    assert [(o.payment_id, o.code) for o in outcomes] == [
        ("auth-1", None),
        ("cap-1", None),
        ("ref-1", None),
    ]
