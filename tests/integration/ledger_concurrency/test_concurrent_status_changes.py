"""Status changes racing on PostgreSQL extend one account history.

Each status change appends an event linked after the history's tail, under a lock that
serialises the appends (`ledger.account_events`): threads changing the statuses of
different accounts at once (no row lock in common), of several accounts in one
transaction, while transfers move money out of those accounts, or while `seal-terms`
records the accounts changed before 0013 (`ledger.terms_baseline`), still leave one
gapless, unbroken chain, each account at its latest version, with versions 1, 2, ...
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest
from sqlalchemy import select, update

from ledger.account import Account, AccountStatus
from ledger.db import run_transaction
from ledger.digest import account_terms_digest
from ledger.errors import LedgerError
from ledger.service import Ledger, set_accounts_status_in
from ledger.tables import account, account_event
from tests.builders import open_wallets
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import tampering
from tests.integration.ledger_concurrency.harness import (
    ledgers_sharing,
    open_book,
    run_together,
    transfer_minor,
)

pytestmark = pytest.mark.postgres

ACTIVE, FROZEN, CLOSED = AccountStatus.ACTIVE, AccountStatus.FROZEN, AccountStatus.CLOSED
_THREADS = 4
_ROUNDS = 5


def _assert_history_consistent(ledger: Ledger) -> list[int]:
    """The history's seqs run 1..n; each account's versions run 1..k and its row is at k;
    the audit is intact. Return the seqs."""
    with ledger.engine.connect() as conn:
        c = account_event.c
        events = conn.execute(select(c.seq, c.account_id, c.version).order_by(c.seq)).all()
        rows = conn.execute(select(account.c.id, account.c.terms_version)).all()
    seqs = [event.seq for event in events]
    assert seqs == list(range(1, len(seqs) + 1))
    versions: dict[int, list[int]] = {}
    for event in events:
        versions.setdefault(event.account_id, []).append(event.version)
    for account_id, terms_version in rows:
        found = versions.get(account_id, [])
        assert found == list(range(1, terms_version + 1)), (account_id, found, terms_version)
    report = ledger.verify()
    assert report.intact, report.findings[:5]
    return seqs


def test_status_changes_from_four_threads_extend_one_chain(pg_url: str) -> None:
    """Four threads, each freezing and unfreezing its own account five times: events 1 to
    40 in one chain that recomputes, each account at version 10."""
    with ledgers_sharing(pg_url, _THREADS) as services:
        names = [f"w{i}" for i in range(_THREADS)]
        opened = open_wallets(services[0], *names)

        def toggle(index: int) -> None:
            for _ in range(_ROUNDS):
                for status in (FROZEN, ACTIVE):
                    services[index].set_account_status(opened[names[index]].id, status)

        run_together(_THREADS, toggle)
        seqs = _assert_history_consistent(services[0])
        assert len(seqs) == _THREADS * 2 * _ROUNDS
        assert {services[0].account(opened[n].id).status for n in names} == {ACTIVE}


_TOGGLERS = 8
_PAYERS = 2
_CLOSED_GROUPS = 6


def test_status_changes_race_transfers_and_closes_of_several_accounts(pg_url: str) -> None:
    """Eight threads each freeze and unfreeze its own wallet and pay a merchant out of it
    between the changes; two pay from wallets never frozen; one opens three empty accounts
    at a time and closes them in one transaction (as a cooperative closing closes its
    accounts). Every request succeeds, one event per account changed, and the chain holds."""
    with ledgers_sharing(pg_url, _TOGGLERS + _PAYERS + 1) as services:
        book = open_book(services[0], [10_000] * (_TOGGLERS + _PAYERS))
        refused: Counter[str] = Counter()
        lock = threading.Lock()

        def attempt(call: Callable[[], object]) -> None:
            try:
                call()
            except LedgerError as error:
                with lock:
                    refused[error.code.value] += 1

        def close_groups(ledger: Ledger) -> None:
            for group in range(_CLOSED_GROUPS):
                names = [f"z{group}-{n}" for n in range(3)]
                ids = [a.id for n, a in open_wallets(ledger, *names).items() if n != "cash"]
                attempt(partial(_close_together, ledger, ids))

        def work(index: int) -> None:
            ledger = services[index]
            if index == _TOGGLERS + _PAYERS:
                close_groups(ledger)
                return
            wallet = book.wallets[index].id
            for r in range(_ROUNDS):
                for status in (FROZEN, ACTIVE) if index < _TOGGLERS else ():
                    attempt(partial(ledger.set_account_status, wallet, status))
                for p in range(3):
                    request = transfer_minor(f"p-{index}-{r}-{p}", wallet, book.merchant.id, 10)
                    attempt(partial(ledger.post, request))

        run_together(_TOGGLERS + _PAYERS + 1, work)
        assert refused == Counter()
        seqs = _assert_history_consistent(services[0])
        assert len(seqs) == _TOGGLERS * _ROUNDS * 2 + _CLOSED_GROUPS * 3


def _close_together(ledger: Ledger, account_ids: list[int]) -> None:
    """Close the accounts in one transaction, as the registry closes a cooperative's."""
    run_transaction(
        ledger.engine,
        lambda conn: set_accounts_status_in(conn, account_ids, CLOSED, seal_key=TEST_SEAL_KEY),
    )


def _changed_before_0013(url: str, found: Account) -> None:
    """Frozen as a status change before 0013 left it: no event, a version-0 digest."""
    digest = account_terms_digest(TEST_SEAL_KEY, replace(found, status=FROZEN).terms())
    with tampering(url) as conn:
        values = {"status": FROZEN.value, "terms_digest": digest}
        conn.execute(update(account).where(account.c.id == found.id).values(values))


def test_seal_terms_racing_status_changes_records_each_account_once(pg_url: str) -> None:
    """Eight accounts frozen before 0013; `seal-terms` records them one a round while four
    threads unfreeze and freeze them again: each account's versions still run 1, 2, ...
    (a baseline only where no change got there first), and nothing is left to record."""
    with ledgers_sharing(pg_url, _THREADS + 1) as services:
        names = [f"w{i}" for i in range(2 * _THREADS)]
        opened = open_wallets(services[0], *names)
        for name in names:
            _changed_before_0013(pg_url, opened[name])

        def work(index: int) -> None:
            if index == _THREADS:
                services[index].seal_account_terms(per_round=1)
                return
            for name in names[index::_THREADS]:
                for status in (ACTIVE, FROZEN):
                    services[index].set_account_status(opened[name].id, status)

        run_together(_THREADS + 1, work)
        _assert_history_consistent(services[0])
        assert services[0].seal_account_terms().recorded == ()
