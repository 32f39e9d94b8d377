"""Malformed commands are refused before any transaction: `Payments` over a database that
cannot be opened still answers them, one outcome each, with the parse error's code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from interchange.payment_model import QrPurchase
from interchange.payments import Payments
from interchange.window import WindowCalendar
from ledger.money import Money
from ledger.service import Ledger

_KEY = b"kopnet-unit-seal-key"


@pytest.fixture
def payments(tmp_path: Path) -> Iterator[Payments]:
    # A file in a directory that does not exist: any connection attempt raises.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'kopnet.db'}")
    ledger = Ledger(engine, seal_key=_KEY)
    service = Payments(engine, ledger, seal_key=_KEY, calendar=WindowCalendar())
    yield service
    service.close()
    ledger.close()
    engine.dispose()


def _damaged(payment_id: str) -> QrPurchase:
    return QrPurchase(payment_id, 1, "not a QR payload", Money(100_000, "IDR"))


def test_submit_refuses_a_malformed_command_without_opening_the_database(
    payments: Payments,
) -> None:
    outcome = payments.submit(_damaged("p-1"))
    assert outcome.payment is None
    assert outcome.code is not None and str(outcome.code).startswith("qr_")


def test_a_batch_of_malformed_commands_is_refused_without_opening_the_database(
    payments: Payments,
) -> None:
    bad_id = QrPurchase("bad id with spaces", 1, "x", Money(100_000, "IDR"))
    outcomes = payments.submit_batch([_damaged("p-1"), bad_id])
    assert [o.payment_id for o in outcomes] == ["p-1", "bad id with spaces"]
    assert str(outcomes[1].code) == "payment_id_invalid"
    assert all(o.payment is None for o in outcomes)
