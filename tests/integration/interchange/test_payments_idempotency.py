"""Idempotency on both engines: every command is keyed by its caller-chosen `payment_id`.

Replaying the same command returns the original record, marked `replayed`, and records
nothing; the same id with a different request is a conflict; a command repeated within one
batch gets its first occurrence's outcome. A refused command records nothing, so its id
stays free for a retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from api.bootstrap import build
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentError,
    PaymentErrorCode,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.tables import account
from tests.integration.interchange.test_payments_books import (
    World,
    build_world,
    pay,
    refuse,
    snapshot,
)
from tests.network import idr, network_on, qr_for


@pytest.fixture
def w(db_url: str) -> Iterator[World]:
    with network_on(db_url) as net:
        world = build_world(net)
        payments = net.services.payments
        payments.pay(QrPurchase("buy", world.budi.id, qr_for(world.toko), idr(10_000)))
        payments.pay(Authorize("auth-1", world.ani.id, qr_for(world.toko), idr(5_000)))
        payments.pay(Authorize("auth-2", world.ani.id, qr_for(world.toko), idr(5_000)))
        yield world


COMMANDS: dict[str, Callable[[World], PaymentCommand]] = {
    "static_qr": lambda w: QrPurchase("x", w.ani.id, qr_for(w.toko), idr(1_000)),
    "dynamic_qr": lambda w: QrPurchase("x", w.ani.id, qr_for(w.toko, idr(1_000))),
    "cash_in": lambda w: CashIn("x", w.ani.id, w.ksb.id, idr(50_000)),
    "cash_out": lambda w: CashOut("x", w.ani.id, w.ksb.id, idr(50_000)),
    "transfer": lambda w: Transfer("x", w.ani.id, w.budi.id, idr(1_000)),
    "refund": lambda w: Refund("x", "buy", idr(1_000)),
    "authorize": lambda w: Authorize("x", w.ani.id, qr_for(w.toko), idr(1_000)),
    "capture": lambda w: Capture("x", "auth-1", idr(4_000)),
    "void": lambda w: Void("x", "auth-2"),
}


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_replay_returns_the_original_record_and_records_nothing(w: World, kind: str) -> None:
    command = COMMANDS[kind](w)
    engine = w.net.services.engine
    first = w.net.services.payments.submit(command)
    assert first.ok and not first.replayed
    before = snapshot(engine)
    again = w.net.services.payments.submit(command)
    assert (again.ok, again.replayed, again.code) == (True, True, None)
    assert again.payment == first.payment
    assert snapshot(engine) == before


def test_a_replay_of_a_refunded_purchase_shows_what_was_refunded_since(w: World) -> None:
    command = QrPurchase("p-1", w.budi.id, qr_for(w.toko), idr(2_000))
    original = w.net.services.payments.pay(command)
    pay(w.net, Refund("r-1", "p-1", idr(500)))
    again = w.net.services.payments.submit(command)
    assert again.replayed and again.payment is not None
    assert again.payment.refunded == idr(500)
    assert again.payment.entry_id == original.entry_id


def test_the_same_id_with_a_different_amount_is_a_conflict(w: World) -> None:
    pay(w.net, Transfer("t-1", w.ani.id, w.budi.id, idr(1_000)))
    command = Transfer("t-1", w.ani.id, w.budi.id, idr(1_001))
    refuse_conflict(w, command)


def test_the_same_id_for_another_kind_of_command_is_a_conflict(w: World) -> None:
    pay(w.net, Transfer("t-1", w.ani.id, w.budi.id, idr(1_000)))
    refuse_conflict(w, QrPurchase("t-1", w.ani.id, qr_for(w.toko), idr(1_000)))


def test_a_conflict_is_reported_before_anything_else_about_the_party(w: World) -> None:
    pay(w.net, Transfer("t-1", w.ani.id, w.budi.id, idr(1_000)))
    w.net.services.registry.set_member_status(w.ani.id, "suspended")
    refuse_conflict(w, Transfer("t-1", w.ani.id, w.budi.id, idr(2_000)))


def refuse_conflict(w: World, command: PaymentCommand) -> None:
    """The conflict changes nothing; the recorded payment stays as it was."""
    engine = w.net.services.engine
    payments = w.net.services.payments
    recorded = payments.payment(command.payment_id)
    before = snapshot(engine)
    outcome = payments.submit(command)
    assert (outcome.code, outcome.payment) == ("payment_exists_with_different_request", None)
    assert snapshot(engine) == before
    assert payments.payment(command.payment_id) == recorded


def test_the_same_command_twice_in_one_batch_is_recorded_once(w: World) -> None:
    command = Transfer("t-1", w.ani.id, w.budi.id, idr(1_000))
    engine = w.net.services.engine
    before = snapshot(engine)
    first, second = w.net.services.payments.submit_batch([command, command])
    assert (first.ok, first.replayed, second.ok, second.replayed) == (True, False, True, True)
    assert second.payment == first.payment
    after = snapshot(engine)
    assert len(after.payments) == len(before.payments) + 1
    assert after.balances[w.ani.wallet_account_id][0] == (
        before.balances[w.ani.wallet_account_id][0] - 100_000 - 250_000
    )


def test_one_id_for_two_different_requests_in_one_batch_records_only_the_first(
    w: World,
) -> None:
    first, second = w.net.services.payments.submit_batch(
        [
            Transfer("t-1", w.ani.id, w.budi.id, idr(1_000)),
            Transfer("t-1", w.ani.id, w.budi.id, idr(2_000)),
        ]
    )
    assert (first.code, second.code) == (None, "payment_exists_with_different_request")
    assert second.field == "payment_id"
    assert w.net.services.payments.payment("t-1").amount == idr(1_000)


def test_a_repeat_in_one_batch_is_judged_against_what_is_recorded_not_its_first_copy(
    w: World,
) -> None:
    """t-1 recorded; a batch of [t-1 with another amount, t-1 as recorded]: the first is
    the conflict, the second a replay of the recorded payment, as it is sent alone (it was
    refused as a conflict too, compared with the first copy only)."""
    recorded = Transfer("t-1", w.ani.id, w.budi.id, idr(1_000))
    record, _ = pay(w.net, recorded)
    other = Transfer("t-1", w.ani.id, w.budi.id, idr(2_000))
    first, second = w.net.services.payments.submit_batch([other, recorded])
    assert (first.code, first.field) == ("payment_exists_with_different_request", "payment_id")
    assert (second.ok, second.replayed, second.payment) == (True, True, record)


def test_a_refused_command_repeated_in_one_batch_is_refused_twice_and_records_nothing(
    w: World,
) -> None:
    command = Transfer("t-1", w.citra.id, w.budi.id, idr(999_000))
    engine = w.net.services.engine
    before = snapshot(engine)
    outcomes = w.net.services.payments.submit_batch([command, command])
    assert [(o.code, o.replayed) for o in outcomes] == [("insufficient_funds", False)] * 2
    assert snapshot(engine) == before


def test_a_refused_command_can_be_retried_with_the_same_id_once_the_cause_is_gone(
    w: World,
) -> None:
    command = Transfer("t-1", w.citra.id, w.budi.id, idr(999_000))
    refuse(w.net, command, "insufficient_funds")
    pay(w.net, CashIn("top-up", w.citra.id, w.ksa.id, idr(10_000)))
    record, _ = pay(w.net, command)
    assert record.amount == idr(999_000)


@pytest.mark.parametrize("payment_id", ["", "-starts-with-a-dash", "has space", "x" * 57, "ü"])
def test_an_invalid_payment_id_is_refused(w: World, payment_id: str) -> None:
    refuse(w.net, Transfer(payment_id, w.ani.id, w.budi.id, idr(1)), "payment_id_invalid")


def test_pay_raises_the_refusal_code(w: World) -> None:
    with pytest.raises(PaymentError) as excinfo:
        w.net.services.payments.pay(Transfer("t-1", w.ani.id, w.ani.id, idr(1)))
    assert excinfo.value.code is PaymentErrorCode.SAME_WALLET


def test_a_payment_unanswered_within_its_wait_is_outcome_unknown_and_sent_again_once(
    w: World,
) -> None:
    """The caller stops waiting, not the committer: the payment stays queued and is
    recorded once the lock goes; the same command sent again gets that payment."""
    services = w.net.services
    impatient = build(services.settings.model_copy(update={"answer_wait_s": 0.3}))
    command = QrPurchase("late", w.ani.id, qr_for(w.toko), idr(1_000))
    try:
        with services.engine.connect() as conn, conn.begin() as held:
            payer_wallet = account.c.id == w.ani.wallet_account_id
            conn.execute(select(account.c.id).where(payer_wallet).with_for_update())
            with pytest.raises(LedgerError) as waited:
                impatient.payments.submit(command)
            assert waited.value.code is LedgerErrorCode.OUTCOME_UNKNOWN
            held.rollback()
        again = impatient.payments.submit(command)
    finally:
        impatient.close()
    assert again.ok and again.payment is not None
    assert services.payments.payment("late") == again.payment
