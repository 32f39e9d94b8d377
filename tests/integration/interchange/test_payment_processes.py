"""Payments from separate processes, each with its own services and group committers.

Nothing is shared between the processes but PostgreSQL. Three processes submit off-us
purchases and transfers from four threads each; every process also submits the same
thirty commands (same ids, same content), racing the others. Afterwards: each of those
thirty is recorded once and every other submission of it is its replay; every payment id
has one row and one ledger entry; every window's net positions equal the recomputation
from the due-account postings and sum to zero; wallets hold what the accepted payments
moved; the sealed ledger verifies.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest

from api.bootstrap import build
from api.settings import Settings
from interchange.payment_model import PaymentCommand
from tests.conftest import TEST_SEAL_KEY
from tests.integration.interchange.test_payment_concurrency import (
    Town,
    a_command,
    build_town,
    due_postings_by_window,
    expected_wallets,
    positions_by_window,
)
from tests.integration.interchange.test_payments_books import load_records
from tests.network import network_on

pytestmark = pytest.mark.postgres

PROCESSES = 3
THREADS = 4
COMMANDS_PER_THREAD = 40
SHARED_COMMANDS = 30
_RESULT_WAIT_S = 180.0

# (payment id, refusal code or None, replayed) of one submission.
Seen = tuple[str, str | None, bool]

_start: Any = None


def _init_process(start: Any) -> None:
    # A barrier reaches a worker process only through its initializer.
    global _start
    _start = start


def _submit_all(url: str, per_thread: list[list[PaymentCommand]]) -> list[Seen]:
    """In a worker process: build the services, wait for the others, submit every command."""
    services = build(Settings(database_url=url, seal_key=TEST_SEAL_KEY.decode()))
    try:
        _start.wait(timeout=_RESULT_WAIT_S)

        def submit(commands: list[PaymentCommand]) -> list[Seen]:
            outcomes = (services.payments.submit(command) for command in commands)
            return [(o.payment_id, o.code, o.replayed) for o in outcomes]

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            return [seen for batch in pool.map(submit, per_thread) for seen in batch]
    finally:
        services.close()


def _plans(town: Town) -> tuple[list[list[list[PaymentCommand]]], list[PaymentCommand]]:
    """Per process, per thread: its own commands with the shared ones mixed in; and the
    shared ones (payers who can afford them)."""
    rng = random.Random(PROCESSES)
    shared: list[PaymentCommand] = []
    while len(shared) < SHARED_COMMANDS:
        command, penniless = a_command(town, rng, f"shared-{len(shared):03d}")
        if not penniless:
            shared.append(command)
    plans = []
    for p in range(PROCESSES):
        per_thread = []
        for t in range(THREADS):
            own = [
                a_command(town, rng, f"p{p}-t{t}-{n:03d}")[0] for n in range(COMMANDS_PER_THREAD)
            ]
            mine = own + shared[t::THREADS]
            per_thread.append(rng.sample(mine, len(mine)))
        plans.append(per_thread)
    return plans, shared


@pytest.fixture
def town(pg_url: str) -> Iterator[Town]:
    with network_on(pg_url) as net:
        yield build_town(net)


def test_payments_from_separate_processes_are_recorded_once_and_keep_the_books(
    town: Town, pg_url: str
) -> None:
    plans, shared = _plans(town)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    with ProcessPoolExecutor(
        PROCESSES, mp_context=context, initializer=_init_process, initargs=(start,)
    ) as pool:
        futures = [pool.submit(_submit_all, pg_url, plans[p]) for p in range(PROCESSES)]
        seen = [s for f in futures for s in f.result(timeout=_RESULT_WAIT_S)]

    assert len(seen) == PROCESSES * (THREADS * COMMANDS_PER_THREAD + SHARED_COMMANDS)
    codes = Counter(code for _, code, _ in seen)
    assert set(codes) <= {None, "insufficient_funds"}, codes
    assert codes[None] > len(seen) // 2
    by_shared: defaultdict[str, list[Seen]] = defaultdict(list)
    for s in seen:
        if s[0].startswith("shared-"):
            by_shared[s[0]].append(s)
    assert set(by_shared) == {c.payment_id for c in shared}
    for payment_id, submissions in by_shared.items():
        originals = [s for s in submissions if s[1] is None and not s[2]]
        replays = [s for s in submissions if s[1] is None and s[2]]
        assert (len(originals), len(replays)) == (1, PROCESSES - 1), (payment_id, submissions)

    records = load_records(town.net)
    paid = [r for r in records if not r.payment_id.startswith("fund-")]
    accepted = {s[0] for s in seen if s[1] is None}
    assert sorted(r.payment_id for r in paid) == sorted(accepted)

    postings = due_postings_by_window(town)
    positions = positions_by_window(town)
    coop_ids = [c.id for c in [town.net.network, *town.coops]]
    for window in {window for window, _ in positions}:
        for coop_id in coop_ids:
            assert positions.get((window, coop_id), 0) == -postings.get((window, coop_id), 0)
        assert sum(positions.get((window, coop_id), 0) for coop_id in coop_ids) == 0

    for account_id, balance in expected_wallets(records).items():
        assert town.net.balance(account_id).amount_minor == balance, account_id
    ledger = town.net.services.ledger
    ledger.seal()
    report = ledger.verify()
    assert report.intact, report.findings
