"""Payments whose connection drops in the middle of their write (PostgreSQL), sent as one
batch (`submit_batch`, in the caller's thread) or one by one (`submit`, through the
payment committer): the transaction starts again on a fresh connection, so each payment
is recorded once, with its ledger entry, its obligations and its positions, and a retry
replays it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from interchange.payment_model import PaymentCommand, PaymentOutcome
from interchange.payments import Payments
from tests.faults import stall_next_entry_insert
from tests.integration.interchange.test_payment_concurrency import (
    Town,
    a_command,
    assert_books_agree,
    build_town,
)
from tests.integration.interchange.test_payments_books import load_records
from tests.network import network_on
from tests.races import terminate_a_session_waiting

pytestmark = pytest.mark.postgres

_COMMANDS = 12
_STALL_S = 30.0  # ended early: the test terminates the stalled session
_RESULT_WAIT_S = 60.0


@pytest.fixture
def town(pg_url: str) -> Iterator[Town]:
    with network_on(pg_url) as net:
        yield build_town(net)


def _affordable_commands(town: Town) -> list[PaymentCommand]:
    rng = random.Random(7)
    commands: list[PaymentCommand] = []
    while len(commands) < _COMMANDS:
        command, penniless = a_command(town, rng, f"dropped-{len(commands):02d}")
        if not penniless:
            commands.append(command)
    return commands


def _one_by_one(payments: Payments) -> Callable[[list[PaymentCommand]], list[PaymentOutcome]]:
    """Each command through `Payments.submit` (the committer), on threads of its own."""

    def submit(commands: list[PaymentCommand]) -> list[PaymentOutcome]:
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            return list(pool.map(payments.submit, commands))

    return submit


@pytest.mark.parametrize("call", ["submit_batch", "submit"])
def test_payments_whose_connection_drops_while_they_write_are_recorded_once(
    town: Town, call: str
) -> None:
    payments = town.net.services.payments
    send = payments.submit_batch if call == "submit_batch" else _one_by_one(payments)
    commands = _affordable_commands(town)
    stall_next_entry_insert(town.net.services.engine, _STALL_S)
    with ThreadPoolExecutor(max_workers=1) as caller:
        submitting = caller.submit(send, commands)
        terminate_a_session_waiting(town.net.services.engine, "PgSleep")
        outcomes = submitting.result(timeout=_RESULT_WAIT_S)

    assert [(o.payment_id, o.code, o.replayed) for o in outcomes] == [
        (c.payment_id, None, False) for c in commands
    ]
    again = payments.submit_batch(commands)
    assert all(o.replayed for o in again)
    assert [o.payment for o in again] == [o.payment for o in outcomes]
    records = load_records(town.net)
    paid = sorted(r.payment_id for r in records if not r.payment_id.startswith("fund-"))
    assert paid == sorted(c.payment_id for c in commands)
    assert_books_agree(town, records)
