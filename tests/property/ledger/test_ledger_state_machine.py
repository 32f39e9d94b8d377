"""A hypothesis state machine driving a real `Ledger`, checked against a plain dict model.

Each example runs on a fresh database (a copied template file for SQLite, a database made
from the migrated template for PostgreSQL). Rules post transfers (including ones that must
be refused), holds and their captures and voids, reversals, replays of earlier ids,
conflicting replays, independent batches and linked batches, and freeze or unfreeze
wallets. The model predicts every outcome code. After every step: each account's cached
balances equal the model's and the sum of its posted postings; the balances of each
currency sum to zero; no account breaks a limit; available = posted - held. At the end of
each example the sealed ledger verifies intact.

On PostgreSQL the examples share one database, because making a database per example
costs more than the example itself; each example opens its own accounts and uses its own
entry ids, and the zero-sum and `verify()` checks cover the whole database.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from ledger.account import AccountKind, AccountSpec, AccountStatus
from ledger.db import make_engine
from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import Money
from ledger.service import Ledger
from ledger.store import row_to_account
from ledger.tables import account, posting
from tests.conftest import TEST_SEAL_KEY
from tests.state_machines import DatabaseFactory, example_databases, stateful_settings

BUSINESS_DATE = date(2026, 11, 23)
HOLD_TIMEOUT_S = 3600

SPECS = {
    "cash": AccountSpec("cash", 1, "IDR", AccountKind.COOP_CASH, None),
    "ani": AccountSpec("ani", 1, "IDR", AccountKind.MEMBER_WALLET, 0),
    "budi": AccountSpec("budi", 1, "IDR", AccountKind.MEMBER_WALLET, -50_000),
    "toko": AccountSpec("toko", 2, "IDR", AccountKind.MERCHANT_WALLET, 0, 300_000),
    "yen_cash": AccountSpec("yen-cash", 3, "JPY", AccountKind.COOP_CASH, None),
    "yen": AccountSpec("yen", 3, "JPY", AccountKind.MEMBER_WALLET, 0),
}
WALLETS = ("ani", "budi", "toko", "yen")

names = st.sampled_from(sorted(SPECS))
amounts = st.integers(min_value=1, max_value=150_000)


def _pairs(*choices: str) -> st.SearchStrategy[tuple[str, str]]:
    return st.permutations(choices).map(lambda order: (order[0], order[1]))


# Mostly two accounts of one currency; sometimes any two (a mismatch, or one account twice).
# Holds taken from cash succeed unless a wallet is frozen or full, so that most examples
# have holds to resolve.
cash_holds = st.tuples(st.just("cash"), st.sampled_from(["ani", "budi", "toko"]), amounts)
resolutions = st.sampled_from(["full", "exact", "less", "more", "void"])
moves = st.one_of(
    st.tuples(_pairs("cash", "ani", "budi", "toko"), amounts),
    st.tuples(_pairs("cash", "ani", "budi", "toko"), amounts),
    st.tuples(_pairs("yen_cash", "yen"), amounts),
    st.tuples(st.tuples(names, names), amounts),
).map(lambda drawn: (drawn[0][0], drawn[0][1], drawn[1]))


@dataclass
class ModelAccount:
    """What the model knows of one account."""

    currency: str
    min_balance_minor: int | None
    max_balance_minor: int | None
    posted: int = 0
    debit: int = 0
    credit: int = 0
    status: AccountStatus = AccountStatus.ACTIVE


# (account id, posted delta, held-debit delta, held-credit delta)
Effect = tuple[int, int, int, int]


@dataclass
class ModelHold:
    legs: list[tuple[int, int]]
    state: EntryKind | None = None  # the kind that resolved it


class LedgerMachine(RuleBasedStateMachine):
    """The ledger against a model; subclassed per engine by `machine_on`."""

    new_database: ClassVar[DatabaseFactory]

    entries = Bundle("entries")
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        self._stack = ExitStack()
        url = self._stack.enter_context(type(self).new_database())
        engine = make_engine(url)
        self._stack.callback(engine.dispose)
        self.ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
        self._stack.callback(self.ledger.close)
        # Refs and entry ids carry a token of this example, so that examples can share a
        # database (on PostgreSQL, where a fresh database per example is too slow to make).
        self.token = uuid.uuid4().hex[:8]
        self.ids = {
            name: self.ledger.open_account(replace(spec, ref=f"{self.token}:{spec.ref}")).id
            for name, spec in SPECS.items()
        }
        self.model = {
            self.ids[name]: ModelAccount(
                spec.currency, spec.min_balance_minor, spec.max_balance_minor
            )
            for name, spec in SPECS.items()
        }
        self.requests: dict[str, EntryRequest] = {}
        self.kinds: dict[str, EntryKind] = {}
        self.holds_by_id: dict[str, ModelHold] = {}
        self.posted_legs: dict[str, list[tuple[int, int]]] = {}
        self.reversed: set[str] = set()
        self.counter = 0

    def teardown(self) -> None:
        try:
            self.ledger.seal()
            report = self.ledger.verify()
            assert report.intact, report.findings
        finally:
            self._stack.close()

    # Building requests.

    def _fresh_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{self.token}-{prefix}-{self.counter}"

    def _transfer(
        self, src: str, dst: str, amount: int, kind: EntryKind = EntryKind.POSTED
    ) -> EntryRequest:
        money = Money(amount, SPECS[src].currency)
        return EntryRequest(
            entry_id=self._fresh_id(kind.value),
            business_date=BUSINESS_DATE,
            legs=(Leg(self.ids[src], -money), Leg(self.ids[dst], money)),
            kind=kind,
            timeout_s=HOLD_TIMEOUT_S if kind is EntryKind.PENDING else None,
        )

    # The model's prediction, in the planner's documented order.

    def _check_accounts(
        self,
        model: dict[int, ModelAccount],
        effects: Sequence[Effect],
        currencies: dict[int, str],
        releases_only: bool,
    ) -> Code | None:
        for account_id, *_ in effects:
            held = model[account_id]
            if account_id in currencies and currencies[account_id] != held.currency:
                return Code.CURRENCY_MISMATCH
            if not releases_only and held.status is AccountStatus.CLOSED:
                return Code.ACCOUNT_CLOSED
            if not releases_only and held.status is AccountStatus.FROZEN:
                return Code.ACCOUNT_FROZEN
        if releases_only:
            return None
        for account_id, posted, debit, credit in effects:
            held = model[account_id]
            low, high = held.min_balance_minor, held.max_balance_minor
            takes, gives = posted < 0 or debit > 0, posted > 0 or credit > 0
            after_low = held.posted + posted - held.debit - debit
            after_high = held.posted + posted + held.credit + credit
            if low is not None and after_low < low:
                if takes:
                    return Code.INSUFFICIENT_FUNDS
            elif high is not None and after_high > high and gives:
                return Code.BALANCE_LIMIT_EXCEEDED
        return None

    @staticmethod
    def _apply(model: dict[int, ModelAccount], effects: Sequence[Effect]) -> None:
        for account_id, posted, debit, credit in effects:
            held = model[account_id]
            held.posted += posted
            held.debit += debit
            held.credit += credit

    def _predict_new(
        self, model: dict[int, ModelAccount], request: EntryRequest
    ) -> tuple[Code | None, list[Effect]]:
        """Outcome and effects of a new posted or pending transfer."""
        legs = [(leg.account_id, leg.amount.amount_minor) for leg in request.legs]
        if legs[0][0] == legs[1][0]:
            return Code.ACCOUNT_REPEATED, []
        if request.kind is EntryKind.POSTED:
            effects = [(a, amount, 0, 0) for a, amount in legs]
        else:
            effects = [(a, 0, max(-amount, 0), max(amount, 0)) for a, amount in legs]
        currencies = {leg.account_id: leg.amount.currency for leg in request.legs}
        return self._check_accounts(model, effects, currencies, releases_only=False), effects

    def _predict_batch(self, requests: Sequence[EntryRequest]) -> list[Code | None]:
        """Plan a batch of independent transfers against the model; apply what succeeds."""
        predicted: list[Code | None] = []
        for request in requests:
            code, effects = self._predict_new(self.model, request)
            predicted.append(code)
            if code is None:
                self._apply(self.model, effects)
                self._remember(request)
        return predicted

    def _remember(self, request: EntryRequest) -> None:
        request = replace(request, linked=False)
        self.requests[request.entry_id] = request
        self.kinds[request.entry_id] = request.kind
        legs = [(leg.account_id, leg.amount.amount_minor) for leg in request.legs]
        if request.kind is EntryKind.POSTED:
            self.posted_legs[request.entry_id] = legs
        elif request.kind is EntryKind.PENDING:
            self.holds_by_id[request.entry_id] = ModelHold(legs)

    def _post(self, request: EntryRequest) -> Code | None:
        try:
            entry = self.ledger.post(request)
        except LedgerError as error:
            event(f"{request.kind}: {error.code}")
            return error.code
        event(f"{request.kind}: recorded")
        assert entry.entry_id == request.entry_id
        return None

    # Rules.

    @rule(target=entries, name=st.sampled_from(WALLETS), amount=amounts)
    def fund(self, name: str, amount: int) -> object:
        """Cash (unlimited) pays a wallet; refused only for the merchant cap or a freeze."""
        source = "yen_cash" if SPECS[name].currency == "JPY" else "cash"
        return self.transfer(source, name, amount * 3)

    @rule(target=entries, move=moves)
    def transfer_between(self, move: tuple[str, str, int]) -> object:
        return self.transfer(*move)

    def transfer(self, src: str, dst: str, amount: int) -> object:
        request = self._transfer(src, dst, amount)
        [expected] = self._predict_batch([request])
        assert self._post(request) == expected
        return request.entry_id if expected is None else multiple()

    @rule(target=holds, move=st.one_of(cash_holds, moves))
    def hold(self, move: tuple[str, str, int]) -> object:
        request = self._transfer(*move, kind=EntryKind.PENDING)
        [expected] = self._predict_batch([request])
        assert self._post(request) == expected
        return request.entry_id if expected is None else multiple()

    def _resolution(self, hold_id: str, how: str) -> tuple[EntryRequest, int]:
        """A void of the hold, or a capture of it: in full without legs, for exactly what
        was held, for less, or for more. Returns the request and the amount it captures."""
        if how == "void":
            void = EntryRequest(
                self._fresh_id("void"),
                BUSINESS_DATE,
                kind=EntryKind.VOID_PENDING,
                target_id=hold_id,
            )
            return void, 0
        (debit_id, debit_minor), (credit_id, _) = self.holds_by_id[hold_id].legs
        held = -debit_minor
        amount = {"full": held, "exact": held, "less": max(1, held // 2), "more": held + 1}[how]
        currency = self.model[debit_id].currency
        legs = (
            Leg(debit_id, Money(-amount, currency)),
            Leg(credit_id, Money(amount, currency)),
        )
        capture = EntryRequest(
            self._fresh_id("capture"),
            BUSINESS_DATE,
            () if how == "full" else legs,
            EntryKind.POST_PENDING,
            hold_id,
        )
        return capture, amount

    def _resolve(self, hold_id: str, request: EntryRequest, amount: int) -> Code | None:
        """Predict a resolution; when it succeeds, apply it to the model."""
        hold = self.holds_by_id[hold_id]
        expected, effects = self._predict_resolution(hold, request, amount)
        if expected is None:
            self._apply(self.model, effects)
            hold.state = request.kind
            self.requests[request.entry_id] = request
            self.kinds[request.entry_id] = request.kind
            if request.kind is EntryKind.POST_PENDING:
                (debit_id, _), (credit_id, _) = hold.legs
                self.posted_legs[request.entry_id] = [(debit_id, -amount), (credit_id, amount)]
        return expected

    @rule(target=entries, hold_id=holds, how=resolutions)
    def resolve(self, hold_id: str, how: str) -> object:
        request, amount = self._resolution(hold_id, how)
        expected = self._resolve(hold_id, request, amount)
        assert self._post(request) == expected
        return request.entry_id if expected is None else multiple()

    @rule(target=entries, hold_id=holds, hows=st.lists(resolutions, min_size=2, max_size=3))
    def resolve_in_one_batch(self, hold_id: str, hows: list[str]) -> object:
        """Several resolutions of one hold in one batch: the first that can succeeds, and
        a refused one does not stop a later one."""
        batch = [self._resolution(hold_id, how) for how in hows]
        expected = [self._resolve(hold_id, request, amount) for request, amount in batch]
        outcomes = self.ledger.post_batch([request for request, _ in batch])
        assert [o.code for o in outcomes] == expected
        recorded = [r.entry_id for (r, _), c in zip(batch, expected, strict=True) if c is None]
        return multiple(*recorded)

    def _predict_resolution(
        self, hold: ModelHold, request: EntryRequest, amount: int
    ) -> tuple[Code | None, list[Effect]]:
        if hold.state is EntryKind.POST_PENDING:
            return Code.PENDING_ALREADY_POSTED, []
        if hold.state is not None:
            return Code.PENDING_ALREADY_VOIDED, []
        (debit_id, held), (credit_id, _) = hold.legs
        if amount > -held:
            return Code.PENDING_AMOUNT_EXCEEDED, []
        releases_only = request.kind is EntryKind.VOID_PENDING
        effects = [(debit_id, -amount, held, 0), (credit_id, amount, 0, held)]
        return self._check_accounts(self.model, effects, {}, releases_only), effects

    @rule(target=entries, entry_id=entries)
    def reverse(self, entry_id: str) -> object:
        request = EntryRequest(
            self._fresh_id("reversal"), BUSINESS_DATE, kind=EntryKind.REVERSAL, target_id=entry_id
        )
        effects: list[Effect] = []
        if entry_id not in self.posted_legs:
            expected: Code | None = Code.ENTRY_NOT_REVERSIBLE
        elif entry_id in self.reversed:
            expected = Code.ENTRY_ALREADY_REVERSED
        else:
            effects = [(a, -amount, 0, 0) for a, amount in self.posted_legs[entry_id]]
            expected = self._check_accounts(self.model, effects, {}, releases_only=False)
        assert self._post(request) == expected
        if expected is not None:
            return multiple()
        self._apply(self.model, effects)
        self.reversed.add(entry_id)
        self.requests[request.entry_id] = request
        self.kinds[request.entry_id] = request.kind
        return request.entry_id

    @rule(entry_id=st.one_of(entries, holds))
    def replay(self, entry_id: str) -> None:
        """The same id with the same request returns the original and changes nothing."""
        (outcome,) = self.ledger.post_batch([self.requests[entry_id]])
        assert outcome.ok and outcome.replayed
        assert outcome.entry is not None and outcome.entry.entry_id == entry_id

    @rule(
        entry_id=st.one_of(entries, holds),
        change=st.sampled_from(["date", "metadata", "amount", "kind", "legs"]),
    )
    def conflicting_replay(self, entry_id: str, change: str) -> None:
        original = self.requests[entry_id]
        has_legs = original.kind in (EntryKind.POSTED, EntryKind.PENDING)
        if change == "amount" and has_legs:
            legs = tuple(
                Leg(
                    leg.account_id,
                    Money(leg.amount.amount_minor + (1 if i else -1), leg.amount.currency),
                )
                for i, leg in enumerate(original.legs)
            )
            changed, code = replace(original, legs=legs), Code.EXISTS_WITH_DIFFERENT_AMOUNT
        elif change == "kind" and has_legs:
            kind = EntryKind.POSTED if original.kind is EntryKind.PENDING else EntryKind.PENDING
            timeout = HOLD_TIMEOUT_S if kind is EntryKind.PENDING else None
            changed = replace(original, kind=kind, timeout_s=timeout)
            code = Code.EXISTS_WITH_DIFFERENT_KIND
        elif change == "legs" and has_legs:
            changed = replace(original, legs=tuple(reversed(original.legs)))
            code = Code.EXISTS_WITH_DIFFERENT_LEGS
        elif change == "metadata":
            changed = replace(original, metadata={"note": "changed"})
            code = Code.EXISTS_WITH_DIFFERENT_METADATA
        else:
            changed = replace(original, business_date=BUSINESS_DATE + timedelta(days=1))
            code = Code.EXISTS_WITH_DIFFERENT_BUSINESS_DATE
        assert self._post(changed) == code

    @rule(target=entries, items=st.lists(moves, min_size=2, max_size=4))
    def batch(self, items: list[tuple[str, str, int]]) -> object:
        requests = [self._transfer(*item) for item in items]
        expected = self._predict_batch(requests)
        outcomes = self.ledger.post_batch(requests)
        assert [o.code for o in outcomes] == expected
        return multiple(*[r.entry_id for r, c in zip(requests, expected, strict=True) if c is None])

    @rule(target=entries, items=st.lists(moves, min_size=2, max_size=3))
    def linked_batch(self, items: list[tuple[str, str, int]]) -> object:
        requests = [self._transfer(*item) for item in items]
        trial = {key: replace(value) for key, value in self.model.items()}
        expected: list[Code | None] = [None] * len(requests)
        for index, request in enumerate(requests):
            code, effects = self._predict_new(trial, request)
            if code is not None:
                expected = [Code.LINKED_ENTRY_FAILED] * len(requests)
                expected[index] = code
                break
            self._apply(trial, effects)
        outcomes = self.ledger.post_linked(requests)
        assert [o.code for o in outcomes] == expected
        if any(expected):
            return multiple()
        self.model = trial
        for request in requests:
            self._remember(request)
        return multiple(*[r.entry_id for r in requests])

    def _frozen(self) -> list[int]:
        return [i for i, held in self.model.items() if held.status is AccountStatus.FROZEN]

    def _set_status(self, account_id: int, status: AccountStatus) -> None:
        self.model[account_id].status = status
        assert self.ledger.set_account_status(account_id, status).status is status

    @precondition(lambda self: not self._frozen())
    @rule(name=st.sampled_from(WALLETS))
    def freeze(self, name: str) -> None:
        """Freeze one wallet at a time, so that most steps can still move money."""
        self._set_status(self.ids[name], AccountStatus.FROZEN)

    @precondition(lambda self: bool(self._frozen()))
    @rule()
    def unfreeze(self) -> None:
        (account_id,) = self._frozen()
        self._set_status(account_id, AccountStatus.ACTIVE)

    # Invariants.

    @invariant()
    def balances_agree_with_the_model_and_the_postings(self) -> None:
        with self.ledger.engine.connect() as conn:
            everyone = {r.id: row_to_account(r) for r in conn.execute(select(account))}
            query = (
                select(posting.c.account_id, func.sum(posting.c.amount_minor))
                .where(posting.c.is_pending.is_(False))
                .group_by(posting.c.account_id)
            )
            sums = {account_id: int(total) for account_id, total in conn.execute(query)}
        for account_id, want in self.model.items():
            got = everyone[account_id]
            assert (got.posted_minor, got.pending_debit_minor, got.pending_credit_minor) == (
                want.posted,
                want.debit,
                want.credit,
            )
            assert got.status is want.status
            assert got.posted_minor == sums.get(account_id, 0)
            assert got.available.amount_minor == want.posted - want.debit
            assert got.limit_violation() is None
            if want.min_balance_minor is not None:
                assert got.posted_minor - got.pending_debit_minor >= want.min_balance_minor
        totals: Counter[str] = Counter()
        for got in everyone.values():
            totals[got.currency] += got.posted_minor
        assert all(total == 0 for total in totals.values()), totals

    @invariant()
    def postings_are_numbered_per_account_and_carry_the_running_balance(self) -> None:
        """An account's posted postings are numbered 1, 2, ... in order, each with the
        balance after it; the account counts them."""
        ids = list(self.model)
        mine = posting.c.account_id.in_(ids)
        query = select(posting).where(mine, posting.c.is_pending.is_(False))
        with self.ledger.engine.connect() as conn:
            counted = conn.execute(
                select(account.c.id, account.c.posting_count).where(account.c.id.in_(ids))
            )
            counts = {row.id: row.posting_count for row in counted}
            rows = conn.execute(query).all()
        numbered = dict.fromkeys(ids, 0)
        running = dict.fromkeys(ids, 0)
        for row in sorted(rows, key=lambda r: (r.account_id, r.account_posting_no)):
            numbered[row.account_id] += 1
            running[row.account_id] += row.amount_minor
            assert row.account_posting_no == numbered[row.account_id], row
            assert row.balance_after_minor == running[row.account_id], row
        assert numbered == counts


def machine_on(new_database: DatabaseFactory) -> type[LedgerMachine]:
    """The state machine bound to a factory of fresh migrated databases."""
    return type("LedgerMachineOnDatabase", (LedgerMachine,), {"new_database": new_database})


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_ledger_agrees_with_a_dict_model(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with example_databases(engine, request, tmp_path) as fresh:
        run_settings = stateful_settings(6, (20, 30, 50))
        run_state_machine_as_test(machine_on(fresh), settings=run_settings)
