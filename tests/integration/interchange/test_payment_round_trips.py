"""On PostgreSQL a payment batch reads and writes the interchange's rows only in its two
pipelines: the load (`interchange.payment_store_pg.load_batch`) and the writes sent with
the COMMIT (`write_batch`). No statement of its own goes through SQLAlchemy, so none costs a
round trip: not the look-ups of a named authorization's merchant criteria and hold expiry,
nor the refunded amount and status updates while the ledger's accounts are locked.

A `before_cursor_execute` listener sees every statement SQLAlchemy sends; psycopg's
pipelines bypass it. A statement counts as the interchange's when the innermost of our
frames that sent it is an interchange module, whatever table it reads (the hold expiry is
read from the ledger's entries). The ledger's own statements (looking up a capture's or
void's target entry) are the ledger's business and are not counted here.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

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

pytestmark = pytest.mark.postgres

_OUR_PACKAGES = frozenset({"interchange", "ledger"})


@pytest.fixture
def w(pg_url: str) -> Iterator[World]:
    with network_on(pg_url) as net:
        yield build_world(net)


def pay_and_list_interchange_statements(
    w: World, command: PaymentCommand
) -> tuple[PaymentRecord, list[str]]:
    """Record `command` (it must succeed); return its record and the statements the
    interchange's own code sent through SQLAlchemy meanwhile."""
    seen: list[str] = []

    def listen(*args: Any) -> None:
        if _sender_package() == "interchange":
            seen.append(args[2])

    engine = w.net.services.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        record = w.net.services.payments.pay(command)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return record, seen


def _sender_package() -> str | None:
    """The package (`interchange` or `ledger`) of the module of the innermost frame of ours
    on the stack."""
    frame = inspect.currentframe()
    while frame is not None:
        package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if package in _OUR_PACKAGES:
            return package
        frame = frame.f_back
    return None


def test_a_capture_for_less_looks_up_and_resolves_its_authorization_in_the_pipelines(
    w: World,
) -> None:
    payments = w.net.services.payments
    payments.pay(Authorize("auth", w.ani.id, qr_for(w.mikro), idr(40_000)))
    record, statements = pay_and_list_interchange_statements(w, Capture("cap", "auth", idr(30_000)))
    assert statements == []
    # Priced at the micro merchant's criteria (0.3%), which the load brought.
    assert record.fee == idr(90)
    assert payments.payment("auth").status is PaymentStatus.CAPTURED


def test_a_void_resolves_its_authorization_in_the_commits_pipeline(w: World) -> None:
    payments = w.net.services.payments
    payments.pay(Authorize("auth", w.ani.id, qr_for(w.toko), idr(40_000)))
    _, statements = pay_and_list_interchange_statements(w, Void("void", "auth"))
    assert statements == []
    assert payments.payment("auth").status is PaymentStatus.VOIDED


def test_a_refund_adds_to_its_original_in_the_commits_pipeline(w: World) -> None:
    payments = w.net.services.payments
    payments.pay(QrPurchase("buy", w.ani.id, qr_for(w.toko), idr(10_000)))
    payments.pay(Refund("r-1", "buy", idr(1_000)))
    _, statements = pay_and_list_interchange_statements(w, Refund("r-2", "buy", idr(2_500)))
    assert statements == []
    assert payments.payment("buy").refunded == idr(3_500)
