"""Many callers paying at once on PostgreSQL, through the group committer.

Six cooperatives with generous caps, sixty funded members, six members who can afford
nothing, twelve merchants. Sixteen threads submit off-us QR purchases and transfers with
`Payments.submit`; the penniless members' payments must all fail for insufficient funds,
and threads replay payments that other threads have already seen recorded. Afterwards,
for every window: each cooperative's net position from `interchange_obligation` equals the
negated sum of the postings on its due account made by that window's payments, and the
positions sum to zero; every payment id is recorded once, with one ledger entry; every
wallet holds its funding plus what the accepted payments moved; the sealed ledger verifies.

A replay that races its still-uncommitted original is tested separately, deterministically:
it must come back as the replayed outcome.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from api.bootstrap import build
from interchange import tables
from interchange.payment_model import (
    CashIn,
    PaymentCommand,
    PaymentKind,
    PaymentOutcome,
    PaymentRecord,
    QrPurchase,
    Transfer,
)
from interchange.registry_model import Coop, Member, Merchant
from ledger import tables as ledger_tables
from tests.integration.interchange.test_payments_books import load_records
from tests.network import idr, network_on, qr_for
from tests.races import wait_until_a_session_waits_for_a_lock

if TYPE_CHECKING:
    # Imported for annotations only: pytest would try to collect a module-level Test* class.
    from tests.network import TestNetwork

pytestmark = pytest.mark.postgres

COOPS = 6
MEMBERS_PER_COOP = 10
MERCHANTS_PER_COOP = 2
THREADS = 16
COMMANDS_PER_THREAD = 200
FUNDING_RUPIAH = 5_000_000
PENNILESS_FUNDING_RUPIAH = 10_000  # Rp9.000 after the cash-in fee
CAP_RUPIAH = 1_000_000_000
START_TIMEOUT_S = 60.0


@dataclass
class Town:
    """The participants, by cooperative."""

    net: TestNetwork
    coops: list[Coop]
    members: dict[int, list[Member]]  # coop id -> members who can pay
    penniless: list[Member]
    merchants: dict[int, list[Merchant]]
    qr_codes: dict[int, str]  # merchant id -> static code


def build_town(net: TestNetwork) -> Town:
    coops = [net.add_coop(f"K{n:02d}", cap_rupiah=CAP_RUPIAH) for n in range(COOPS)]
    members: dict[int, list[Member]] = defaultdict(list)
    penniless: list[Member] = []
    merchants: dict[int, list[Merchant]] = defaultdict(list)
    funding: list[PaymentCommand] = []
    for coop in coops:
        for n in range(MEMBERS_PER_COOP + 1):
            member = net.add_member(f"{coop.code}-m{n}", coop)
            rich = n < MEMBERS_PER_COOP
            (members[coop.id].append if rich else penniless.append)(member)
            rupiah = FUNDING_RUPIAH if rich else PENNILESS_FUNDING_RUPIAH
            funding.append(CashIn(f"fund-{member.id}", member.id, coop.id, idr(rupiah)))
        for n in range(MERCHANTS_PER_COOP):
            merchants[coop.id].append(net.add_merchant(f"{coop.code} shop {n}", coop))
    outcomes = net.services.payments.submit_batch(funding)
    assert all(o.ok for o in outcomes)
    qr_codes = {m.id: qr_for(m) for shops in merchants.values() for m in shops}
    return Town(net, coops, dict(members), penniless, dict(merchants), qr_codes)


@dataclass
class Tally:
    """What the callers saw, shared between threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    recorded: dict[str, PaymentRecord] = field(default_factory=dict)
    replays: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    penniless_ids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def seen(self, command: PaymentCommand, outcome: PaymentOutcome, penniless: bool) -> None:
        with self.lock:
            self.codes[str(outcome.code)] += 1
            if penniless:
                self.penniless_ids.add(command.payment_id)
                if outcome.code != "insufficient_funds":
                    self.problems.append(f"{command.payment_id}: {outcome.code}")
            elif outcome.code not in (None, "insufficient_funds"):
                self.problems.append(f"{command.payment_id}: {outcome.code}")
            if outcome.payment is not None:
                if outcome.replayed or command.payment_id in self.recorded:
                    self.problems.append(f"{command.payment_id}: first outcome is a replay")
                self.recorded[command.payment_id] = outcome.payment

    def replayed(self, payment_id: str, outcome: PaymentOutcome) -> None:
        with self.lock:
            self.replays += 1
            if not outcome.replayed or outcome.payment != self.recorded[payment_id]:
                self.problems.append(f"{payment_id}: replay gave {outcome}")

    def some_recorded(self, rng: random.Random) -> str | None:
        """A payment id some thread saw recorded, or None yet."""
        with self.lock:
            return rng.choice(sorted(self.recorded)) if self.recorded else None


def a_command(town: Town, rng: random.Random, payment_id: str) -> tuple[PaymentCommand, bool]:
    """An off-us purchase or transfer; one in twenty from a member who cannot afford it."""
    penniless = rng.random() < 0.05
    payer_coop, payee_coop = rng.sample(town.coops, 2)
    payer = rng.choice(town.penniless) if penniless else rng.choice(town.members[payer_coop.id])
    payee_coop_id = payee_coop.id if payer.coop_id != payee_coop.id else payer_coop.id
    rupiah = rng.randint(10_000 if penniless else 1_000, 50_000)
    if rng.random() < 0.2:
        payee = rng.choice(town.members[payee_coop_id])
        return Transfer(payment_id, payer.id, payee.id, idr(rupiah)), penniless
    shop = rng.choice(town.merchants[payee_coop_id])
    code = town.qr_codes[shop.id]
    if rng.random() < 0.3:
        return QrPurchase(payment_id, payer.id, qr_for(shop, idr(rupiah))), penniless
    return QrPurchase(payment_id, payer.id, code, idr(rupiah)), penniless


def run_threads(town: Town, tally: Tally) -> None:
    payments = town.net.services.payments
    commands: dict[str, PaymentCommand] = {}
    commands_lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def work(thread_no: int) -> None:
        rng = random.Random(1_000 + thread_no)
        barrier.wait(timeout=START_TIMEOUT_S)
        for n in range(COMMANDS_PER_THREAD):
            command, penniless = a_command(town, rng, f"t{thread_no:02d}-{n:04d}")
            with commands_lock:
                commands[command.payment_id] = command
            tally.seen(command, payments.submit(command), penniless)
            if n % 8 == 7:
                payment_id = tally.some_recorded(rng)
                if payment_id is not None:
                    with commands_lock:
                        again = commands[payment_id]
                    tally.replayed(payment_id, payments.submit(again))

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(work, n) for n in range(THREADS)]:
            future.result()


def due_postings_by_window(town: Town) -> dict[tuple[object, int], int]:
    """Per (window, coop): the sum of postings on its due accounts by that window's payments."""
    payment, entry, posting = tables.payment, ledger_tables.entry, ledger_tables.posting
    due_of = {
        a: owner
        for c in [town.net.network, *town.coops]
        for a, owner in town.net.due_accounts(c).items()
    }
    query = (
        select(payment.c.window_date, posting.c.account_id, func.sum(posting.c.amount_minor))
        .join(entry, entry.c.entry_id == payment.c.entry_id)
        .join(posting, posting.c.entry_seq == entry.c.seq)
        .where(payment.c.window_date.is_not(None), posting.c.account_id.in_(sorted(due_of)))
        .group_by(payment.c.window_date, posting.c.account_id)
    )
    totals: defaultdict[tuple[object, int], int] = defaultdict(int)
    with town.net.services.engine.connect() as conn:
        for window, account_id, total in conn.execute(query):
            totals[(window, due_of[account_id])] += int(total)
    return dict(totals)


def positions_by_window(town: Town) -> dict[tuple[object, int], int]:
    """Per (window, coop): what it is owed minus what it owes, from the obligation table."""
    positions: defaultdict[tuple[object, int], int] = defaultdict(int)
    with town.net.services.engine.connect() as conn:
        for row in conn.execute(select(tables.obligation)):
            positions[(row.window_date, row.creditor_coop_id)] += row.amount_minor
            positions[(row.window_date, row.debtor_coop_id)] -= row.amount_minor
    return dict(positions)


def expected_wallets(records: list[PaymentRecord]) -> dict[int, int]:
    """Each wallet's balance from the accepted payments alone (all are off-us here)."""
    balances: defaultdict[int, int] = defaultdict(int)
    for r in records:
        paid = r.amount.amount_minor + r.extra.amount_minor
        if r.kind is PaymentKind.CASH_IN:
            balances[r.payee_account_id] += paid - r.fee.amount_minor
        elif r.kind is PaymentKind.QR_PURCHASE:
            balances[r.payer_account_id] -= paid
            balances[r.payee_account_id] += paid - r.fee.amount_minor
        else:
            assert r.kind is PaymentKind.TRANSFER, r.kind
            balances[r.payer_account_id] -= paid + r.fee.amount_minor
            balances[r.payee_account_id] += paid
    return dict(balances)


@pytest.fixture
def town(pg_url: str) -> Iterator[Town]:
    with network_on(pg_url) as net:
        yield build_town(net)


def test_concurrent_payments_keep_positions_ledger_and_ids_consistent(town: Town) -> None:
    tally = Tally()
    run_threads(town, tally)
    assert tally.problems == []
    assert tally.codes["None"] > THREADS * COMMANDS_PER_THREAD // 2
    assert tally.codes["insufficient_funds"] >= len(tally.penniless_ids) > 0
    assert tally.replays > THREADS * 10

    records = load_records(town.net)
    ids = [r.payment_id for r in records]
    assert len(ids) == len(set(ids))
    paid = {r.payment_id: r for r in records if not r.payment_id.startswith("fund-")}
    assert paid == tally.recorded
    assert not (set(paid) & tally.penniless_ids)
    entry = ledger_tables.entry
    with town.net.services.engine.connect() as conn:
        entry_ids = set(
            conn.execute(select(entry.c.entry_id).where(entry.c.entry_id.like("pay:%"))).scalars()
        )
    assert entry_ids == {r.entry_id for r in records}

    assert_books_agree(town, records)


def assert_books_agree(town: Town, records: list[PaymentRecord]) -> None:
    """Every window's positions equal the negated due-account postings of its payments and
    sum to zero; wallets hold what `records` moved; the sealed ledger verifies."""
    postings = due_postings_by_window(town)
    positions = positions_by_window(town)
    windows = {window for window, _ in positions}
    assert windows == {r.window_date for r in records}
    coop_ids = [c.id for c in [town.net.network, *town.coops]]
    for window in windows:
        for coop_id in coop_ids:
            assert positions.get((window, coop_id), 0) == -postings.get((window, coop_id), 0)
        assert sum(positions.get((window, coop_id), 0) for coop_id in coop_ids) == 0

    for account_id, balance in expected_wallets(records).items():
        assert town.net.balance(account_id).amount_minor == balance, account_id

    ledger = town.net.services.ledger
    ledger.seal()
    report = ledger.verify()
    assert report.intact, report.findings
    assert report.unsealed_entries == 0


@pytest.mark.parametrize("resent_by", ["another process", "this process"])
def test_a_replay_racing_its_uncommitted_original_returns_the_replayed_outcome(
    town: Town, resent_by: str
) -> None:
    """The same command sent while the first copy waits on a lock, uncommitted. From
    another process (its own services and committer) it loads the payments, finds none,
    waits behind the original and is then a replay, not the database's unique-key error.
    From this process it waits for the first copy's answer (the committer coalesces
    copies, `ledger.group_commit`): both callers get the one new payment."""
    services = town.net.services
    engine = services.engine
    other = build(services.settings) if resent_by == "another process" else services
    payer = town.members[town.coops[0].id][0]
    shop = town.merchants[town.coops[1].id][0]
    command = QrPurchase("race", payer.id, town.qr_codes[shop.id], idr(1_000))
    account = ledger_tables.account
    with ThreadPoolExecutor(max_workers=2) as pool, engine.connect() as blocker:
        # Hold the network's fee account for the payer's cooperative, which the payment
        # locks, so both submissions load the payments (finding none) and then wait behind
        # the original.
        network_fee = town.coops[0].network_fee_account_id
        blocker.execute(select(account.c.id).where(account.c.id == network_fee).with_for_update())
        first = pool.submit(services.payments.submit, command)
        time.sleep(0.5)
        second = pool.submit(other.payments.submit, command)
        time.sleep(0.5)
        blocker.rollback()
        outcomes: list[PaymentOutcome | BaseException] = []
        for future in (first, second):
            try:
                outcomes.append(future.result(timeout=START_TIMEOUT_S))
            except Exception as error:  # the bug: the caller gets the database's error
                outcomes.append(error)
    if other is not services:
        other.close()
    answered = [o for o in outcomes if isinstance(o, PaymentOutcome)]
    assert len(answered) == 2, outcomes
    if resent_by == "this process":
        assert answered[0] == answered[1] and not answered[0].replayed, answered
    else:
        assert sorted(o.replayed for o in answered) == [False, True]


def test_no_network_account_makes_one_cooperatives_payments_wait_for_anothers(
    town: Town,
) -> None:
    payments, engine = town.net.services.payments, town.net.services.engine
    first, second, third, fourth = town.coops[:4]
    # Different payers' and merchants' cooperatives: the two payments share no account
    # but through the network, and the network's accounts are split per cooperative.
    held = QrPurchase(
        "held",
        town.members[first.id][0].id,
        town.qr_codes[town.merchants[third.id][0].id],
        idr(1_000),
    )
    free = QrPurchase(
        "free",
        town.members[second.id][0].id,
        town.qr_codes[town.merchants[fourth.id][0].id],
        idr(1_000),
    )
    account = ledger_tables.account
    mine = (first.network_fee_account_id, first.network_due_account_id)
    # The held payment occupies one committer thread; the free one needs the other.
    assert town.net.services.settings.group_commit_workers >= 2
    with ThreadPoolExecutor(max_workers=2) as pool, engine.connect() as blocker:
        # Hold the network's accounts for the first cooperative's payments, as a long
        # transaction of that cooperative would.
        blocker.execute(select(account.c.id).where(account.c.id.in_(mine)).with_for_update())
        try:
            waiting = pool.submit(payments.submit, held)
            wait_until_a_session_waits_for_a_lock(engine)
            passed = pool.submit(payments.submit, free).result(timeout=START_TIMEOUT_S / 4)
            assert not waiting.done(), "the first cooperative's payment waits for its accounts"
        finally:
            blocker.rollback()
        assert waiting.result(timeout=START_TIMEOUT_S).code is None
    assert passed.code is None and passed.payment is not None
