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

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.bootstrap import build
from api.settings import Settings
from interchange.payment_model import PaymentCommand
from tests.conftest import TEST_SEAL_KEY
from tests.integration.interchange.test_payment_concurrency import (
    Town,
    a_command,
    assert_books_agree,
    build_town,
)
from tests.integration.interchange.test_payments_books import load_records
from tests.network import network_on
from tests.processes import run_in_processes, wait_for_the_others

pytestmark = pytest.mark.postgres

PROCESSES = 3
THREADS = 4
COMMANDS_PER_THREAD = 40
SHARED_COMMANDS = 30
_RESULT_WAIT_S = 180.0

# (payment id, refusal code or None, replayed) of one submission.
Seen = tuple[str, str | None, bool]


def _submit_all(url: str, per_thread: list[list[PaymentCommand]]) -> list[Seen]:
    """In a worker process: build the services, wait for the others, submit every command."""
    services = build(Settings(database_url=url, seal_key=TEST_SEAL_KEY.decode()))
    try:
        wait_for_the_others(_RESULT_WAIT_S)

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
    results = run_in_processes(_submit_all, [(pg_url, plan) for plan in plans], _RESULT_WAIT_S)
    seen = [s for result in results for s in result]

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

    assert_books_agree(town, records)
