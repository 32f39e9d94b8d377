"""On PostgreSQL a payment batch reads and writes only in its pipelines, one round trip
each: the load (`interchange.payment_store_pg.load_batch`), led by the transaction's
BEGIN, the ledger's read phase (which also brings the entry a capture or void resolves,
and locks its accounts) and the writes sent with the COMMIT (`write_batch`). No statement
of ours, the interchange's or the ledger's, goes through SQLAlchemy, so none costs a
round trip of its own: not the look-ups of a named authorization's merchant criteria,
hold and hold expiry, nor the refunded amount and status updates while the ledger's
accounts are locked (`tests.statements`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interchange.payment_model import (
    Authorize,
    Capture,
    PaymentCommand,
    PaymentRecord,
    PaymentStatus,
    QrPurchase,
    Refund,
    Void,
)
from tests.integration.interchange.test_payments_books import World, build_world
from tests.network import idr, network_on, qr_for
from tests.statements import round_trips_through, statements_sent_by

pytestmark = pytest.mark.postgres


@pytest.fixture
def w(pg_url: str) -> Iterator[World]:
    with network_on(pg_url) as net:
        yield build_world(net)


def pay_and_list_our_statements(
    w: World, command: PaymentCommand
) -> tuple[PaymentRecord, list[str]]:
    """Record `command` (it must succeed); return its record and the statements the
    interchange's or the ledger's code sent through SQLAlchemy meanwhile."""
    with statements_sent_by(w.net.services.engine, frozenset({"interchange", "ledger"})) as seen:
        record = w.net.services.payments.pay(command)
    return record, seen


def test_a_purchase_an_authorization_and_its_capture_take_three_round_trips_each(
    w: World,
) -> None:
    payments = w.net.services.payments
    with round_trips_through(w.net.services.engine) as trips:
        payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
        payments.pay(Authorize("auth", w.ani.id, qr_for(w.toko), idr(40_000)))
        payments.pay(Capture("cap", "auth", idr(30_000)))
    assert trips == [3, 3, 3]
    assert payments.payment("auth").status is PaymentStatus.CAPTURED


def test_a_capture_for_less_looks_up_and_resolves_its_authorization_in_the_pipelines(
    w: World,
) -> None:
    payments = w.net.services.payments
    payments.pay(Authorize("auth", w.ani.id, qr_for(w.mikro), idr(40_000)))
    record, statements = pay_and_list_our_statements(w, Capture("cap", "auth", idr(30_000)))
    assert statements == []
    # Priced at the micro merchant's criteria (0.3%), which the load brought.
    assert record.fee == idr(90)
    assert payments.payment("auth").status is PaymentStatus.CAPTURED


def test_a_void_resolves_its_authorization_in_the_commits_pipeline(w: World) -> None:
    payments = w.net.services.payments
    payments.pay(Authorize("auth", w.ani.id, qr_for(w.toko), idr(40_000)))
    _, statements = pay_and_list_our_statements(w, Void("void", "auth"))
    assert statements == []
    assert payments.payment("auth").status is PaymentStatus.VOIDED


def test_a_refund_adds_to_its_original_in_the_commits_pipeline(w: World) -> None:
    payments = w.net.services.payments
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    payments.pay(Refund("r-1", "buy", idr(1_000)))
    _, statements = pay_and_list_our_statements(w, Refund("r-2", "buy", idr(2_500)))
    assert statements == []
    assert payments.payment("buy").refunded == idr(3_500)


def test_the_listener_sees_what_the_interchange_sends_through_sqlalchemy(w: World) -> None:
    """The other tests here find no statement; this one shows the listener would: looking
    a payment up goes through SQLAlchemy."""
    payments = w.net.services.payments
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    with statements_sent_by(w.net.services.engine, frozenset({"interchange"})) as seen:
        payments.payment("buy")
    assert seen and any("interchange_payment" in statement for statement in seen)
