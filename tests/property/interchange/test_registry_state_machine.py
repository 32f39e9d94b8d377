"""A hypothesis state machine driving a real `Registry`, and a `Ledger` on the same database
for the money, checked against a plain-Python model.

Rules register coops, members, merchants and extra wallets: new, replayed with the same
spec (the same row back), or refused (a different spec, a registration number or NIK in
use, a coop or member that is not active). They fund wallets from their coop's cash and
pay them out, move money between a coop's cash and fee income, and set coops', members'
and merchants' statuses: closing needs empty wallets, a coop's close also needs its
members and merchants closed and its own books empty, and closed is final. About one
registration or status change in four crashes after its ledger writes and before its
row's (a `CrashedError` raised from the registry's own insert or status update), and must
leave nothing behind. The model predicts every outcome code, the ledger's included, and
whether a command gets as far as its crash.

After every step, read from the database directly: every ledger account is pointed at
by exactly one registry row (a coop's five account ids, a member wallet, a merchant's
wallet) and owned by the coop that row says; each wallet's ledger status follows its
member's or merchant's status (`LEDGER_STATUS`) and each coop's own accounts are closed
exactly when it is; the statuses, wallets and balances of the example's rows equal the
model's; and the balances sum to zero.

As in the ledger's state machine, each example gets a fresh copy of the migrated database
on SQLite, while on PostgreSQL the examples share one database, because making one per
example costs more than the example itself: codes and registration numbers carry a token
of the example, the network operator registered by the first example is replayed by the
others, and the whole-database checks cover every example so far (so on PostgreSQL what
they find may have been left by an earlier example: SQLite's examples stand alone).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import ClassVar, TypeVar
from unittest import mock

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Connection, Table, func, or_, select

from interchange import member_store, merchant_store, registry_store, tables
from interchange import registry as registry_module
from interchange.nik import NikVault
from interchange.registry import Registry
from interchange.registry_errors import RegistryError
from interchange.registry_errors import RegistryErrorCode as Code
from interchange.registry_model import (
    Coop,
    KycTier,
    Member,
    MemberSpec,
    MemberWallet,
    Merchant,
    ParticipantStatus,
    tier_limits,
)
from interchange.registry_refs import MAIN_WALLET_LABEL, network_merchant_id
from interchange.wallet_status import LEDGER_STATUS
from ledger.account import AccountStatus
from ledger.db import make_engine
from ledger.entry import EntryRequest, Leg
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import account
from tests.builders import BUSINESS_DATE, idr
from tests.conftest import TEST_SEAL_KEY
from tests.state_machines import DatabaseFactory, example_databases, stateful_settings
from tests.unit.interchange.registry_builders import a_coop, a_member, a_merchant, the_network

R = TypeVar("R")

ACTIVE, CLOSED = ParticipantStatus.ACTIVE, ParticipantStatus.CLOSED
# Small pools, so that examples replay and clash as often as they register anew.
COOP_INDEXES = st.integers(min_value=1, max_value=3)
MEMBER_NOS = st.sampled_from(["A-001", "A-002", "A-003"])
MERCHANT_NOS = st.sampled_from(["TOKO-1", "TOKO-2"])
NIKS = st.sampled_from(["3201234567890001", "3201234567890002", "3201234567890003"])
LABELS = st.sampled_from([MAIN_WALLET_LABEL, "savings", "school"])
STATUSES = st.sampled_from(list(ParticipantStatus))
# About one registration or status change in four crashes after its ledger writes.
CRASHES = st.integers(min_value=0, max_value=3).map(lambda n: n == 3)
# Up to Rp1.500.000 a step, often a lot: a basic member's wallet (Rp2.000.000) fills in two.
RUPIAH = st.one_of(st.integers(min_value=1, max_value=1_500_000), st.just(1_500_000))


@dataclass
class ModelCoop:
    """A registered coop: its row as registered, and its status now."""

    row: Coop
    status: ParticipantStatus = ACTIVE


@dataclass
class ModelMember:
    """A registered member: its row and spec as registered, its wallets and status now."""

    row: Member
    spec: MemberSpec
    wallets: dict[str, int]  # label -> account id
    status: ParticipantStatus = ACTIVE


@dataclass
class ModelMerchant:
    """A registered merchant: its row as registered, and its status now."""

    row: Merchant
    status: ParticipantStatus = ACTIVE


Holder = ModelCoop | ModelMember | ModelMerchant


@dataclass
class ModelAccount:
    """A ledger account the rules move money on: a wallet, or a coop's cash or fee income."""

    holder: Holder
    min_minor: int | None
    max_minor: int | None
    posted: int = 0

    @property
    def status(self) -> AccountStatus:
        """A wallet follows its holder; a coop's own accounts close with it, and only then."""
        if isinstance(self.holder, ModelCoop):
            return AccountStatus.CLOSED if self.holder.status is CLOSED else AccountStatus.ACTIVE
        return LEDGER_STATUS[self.holder.status]


class CrashedError(Exception):
    """Stands for a crash or a lost connection in the middle of a registry command."""


# Where a command crashes: after its ledger writes (accounts opened, wallets frozen or
# closed, a coop's books closed), before the registry row that goes with them is written.
Seam = tuple[ModuleType, str]
COOP_INSERT: Seam = (registry_module, "insert_coop")
MEMBER_INSERT: Seam = (registry_module, "insert_member")
MERCHANT_INSERT: Seam = (registry_module, "insert_merchant")
WALLET_INSERT: Seam = (member_store, "insert")  # only the wallet row's, in `open_wallet`
COOP_STATUS: Seam = (registry_store, "set_row_status")
MEMBER_STATUS: Seam = (member_store, "set_row_status")
MERCHANT_STATUS: Seam = (merchant_store, "set_row_status")


def registry_call(call: Callable[[], R], crash_at: Seam | None) -> R | Code | CrashedError:
    """What the registry returned, the code it refused with, or the crash at `crash_at`
    (when the command got that far)."""
    with ExitStack() as stack:
        if crash_at is not None:
            stack.enter_context(mock.patch.object(*crash_at, side_effect=CrashedError))
        try:
            return call()
        except RegistryError as error:
            code = error.code
        except CrashedError as crash:
            return crash
    assert isinstance(code, Code)
    return code


def check_outcome(
    rule_name: str, got: object, expected: Code | None, *, crashes: bool = False
) -> bool:
    """The command crashed where it was made to, refused with the predicted code, or did
    neither when neither was predicted; return True when it crashed."""
    if crashes:
        event(f"{rule_name}: crashed")
        assert isinstance(got, CrashedError), f"{rule_name} did not reach its crash: {got!r}"
        return True
    event(f"{rule_name}: {got if isinstance(got, Code) else 'ok'}")
    assert not isinstance(got, CrashedError), f"{rule_name} got further than predicted"
    if expected is None:
        assert not isinstance(got, Code), f"{rule_name} refused with {got}"
    else:
        assert got == expected, f"{rule_name}: expected {expected}, got {got!r}"
    return False


Row = TypeVar("Row", Coop, Member, Merchant)


def new_registration(
    rule_name: str,
    got: object,
    expected: Code | None,
    existing: ModelCoop | ModelMember | ModelMerchant | None,
    row_type: type[Row],
    *,
    crash: bool,
) -> Row | None:
    """The row a registration created, checked against the prediction (`check_outcome`;
    it crashes where asked unless it was refused or replayed); None when there is nothing
    new to model: refused, crashed, or a replay of `existing`, checked equal to it."""
    crashes = crash and existing is None and expected is None
    if check_outcome(rule_name, got, expected, crashes=crashes) or expected is not None:
        return None
    assert isinstance(got, row_type)
    if existing is not None:
        assert got == replace(existing.row, status=existing.status)
        return None
    return got


@dataclass
class Model:
    """The registry and the money as the rules predict them."""

    coops: dict[int, ModelCoop] = field(default_factory=dict)
    members: dict[int, ModelMember] = field(default_factory=dict)
    merchants: dict[int, ModelMerchant] = field(default_factory=dict)
    accounts: dict[int, ModelAccount] = field(default_factory=dict)

    def coop_of(self, holder: Holder) -> ModelCoop:
        return holder if isinstance(holder, ModelCoop) else self.coops[holder.row.coop_id]

    def participants_of(self, coop_id: int) -> list[ModelMember | ModelMerchant]:
        everyone: list[ModelMember | ModelMerchant] = [*self.members.values()]
        everyone += self.merchants.values()
        return [p for p in everyone if p.row.coop_id == coop_id]

    def predict_transfer(
        self, debit_id: int, credit_id: int, amount: int
    ) -> LedgerErrorCode | None:
        """The ledger's checks in its order: each leg's status, then each leg's limits."""
        debit, credit = self.accounts[debit_id], self.accounts[credit_id]
        for held in (debit, credit):
            if held.status is AccountStatus.CLOSED:
                return LedgerErrorCode.ACCOUNT_CLOSED
            if held.status is AccountStatus.FROZEN:
                return LedgerErrorCode.ACCOUNT_FROZEN
        if debit.min_minor is not None and debit.posted - amount < debit.min_minor:
            return LedgerErrorCode.INSUFFICIENT_FUNDS
        if credit.max_minor is not None and credit.posted + amount > credit.max_minor:
            return LedgerErrorCode.BALANCE_LIMIT_EXCEEDED
        return None

    def predict_status_change(
        self, current: ParticipantStatus, new: ParticipantStatus, wallets: Iterable[int]
    ) -> Code | None:
        """A member's or merchant's: closed is final and needs empty wallets."""
        if current is CLOSED:
            return None if new is CLOSED else Code.STATUS_TRANSITION_INVALID
        if new is CLOSED and any(self.accounts[w].posted for w in wallets):
            return Code.WALLET_NOT_EMPTY
        return None

    def predict_coop_status(self, coop: ModelCoop, new: ParticipantStatus) -> Code | None:
        """Closed is final; closing needs every member and merchant closed, then empty books
        (the rules make no payments, so there is no obligation to settle)."""
        if coop.status is CLOSED:
            return None if new is CLOSED else Code.STATUS_TRANSITION_INVALID
        if new is not CLOSED:
            return None
        if any(p.status is not CLOSED for p in self.participants_of(coop.row.id)):
            return Code.COOP_NOT_EMPTY
        books = [a for a in self.accounts.values() if a.holder is coop]
        if any(a.posted for a in books):
            return Code.COOP_HAS_OPEN_POSITION
        return None


class RegistryMachine(RuleBasedStateMachine):
    """The registry against a model; subclassed per engine by `machine_on`."""

    new_database: ClassVar[DatabaseFactory]

    coop_ids = Bundle("coop_ids")
    member_ids = Bundle("member_ids")
    # Wallets by their account ids: every wallet, and merchants' (a merchant by its wallet).
    wallet_ids = Bundle("wallet_ids")
    merchant_wallet_ids = Bundle("merchant_wallet_ids")

    def __init__(self) -> None:
        super().__init__()
        self._stack = ExitStack()
        url = self._stack.enter_context(type(self).new_database())
        self.engine = make_engine(url)
        self._stack.callback(self.engine.dispose)
        self.ledger = Ledger(self.engine, seal_key=TEST_SEAL_KEY)
        self._stack.callback(self.ledger.close)
        self.registry = Registry(self.engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
        # Codes, registration numbers and entry ids carry a token of this example, so that
        # examples can share a database (on PostgreSQL).
        self.token = uuid.uuid4().hex[:8].upper()
        self.model = Model()
        self.entries = 0

    def teardown(self) -> None:
        self._stack.close()

    @initialize()
    def register_the_network(self) -> None:
        """The operator first (a replay when an earlier example registered it)."""
        network = self.registry.register_coop(the_network())
        assert network.is_network and network.status is ACTIVE
        assert self.registry.register_coop(the_network()) == network

    # Coops.

    @rule(
        target=coop_ids,
        index=COOP_INDEXES,
        number=COOP_INDEXES,
        capped=st.booleans(),
        crash=CRASHES,
    )
    def register_coop(self, index: int, number: int, capped: bool, crash: bool) -> object:
        spec = a_coop(
            code=f"K{self.token}-{index}",
            registration_no=f"AHU-{self.token}-{number}",
            net_debit_cap_minor=1_000_000_000 if capped else 0,
        )
        coops = self.model.coops.values()
        existing = next((c for c in coops if c.row.code == spec.code), None)
        if existing is not None:
            expected = None if existing.row.spec == spec else Code.COOP_EXISTS_WITH_DIFFERENT_SPEC
        elif any(c.row.registration_no == spec.registration_no for c in coops):
            expected = Code.COOP_REGISTRATION_NO_TAKEN
        else:
            expected = None
        called = registry_call(
            lambda: self.registry.register_coop(spec), COOP_INSERT if crash else None
        )
        got = new_registration("register_coop", called, expected, existing, Coop, crash=crash)
        if got is None:
            return multiple()
        assert got.spec == spec and got.status is ACTIVE
        coop = self.model.coops[got.id] = ModelCoop(got)
        for account_id in (got.cash_account_id, got.fee_account_id):
            self.model.accounts[account_id] = ModelAccount(coop, None, None)
        return got.id

    @rule(coop_id=coop_ids, changed=st.booleans())
    def replay_coop(self, coop_id: int, changed: bool) -> None:
        coop = self.model.coops[coop_id]
        spec = replace(coop.row.spec, legal_name="Koperasi Lain") if changed else coop.row.spec
        got = registry_call(lambda: self.registry.register_coop(spec), None)
        check_outcome("replay_coop", got, Code.COOP_EXISTS_WITH_DIFFERENT_SPEC if changed else None)
        if not changed:
            assert got == replace(coop.row, status=coop.status)

    @rule(coop_id=coop_ids, status=STATUSES, crash=CRASHES)
    def set_coop_status(self, coop_id: int, status: ParticipantStatus, crash: bool) -> None:
        coop = self.model.coops[coop_id]
        expected = self.model.predict_coop_status(coop, status)
        seam = COOP_STATUS if crash else None
        got = registry_call(lambda: self.registry.set_coop_status(coop_id, status), seam)
        name = f"set_coop_status {coop.status}->{status}"
        if (
            check_outcome(name, got, expected, crashes=crash and expected is None)
            or expected is not None
        ):
            return
        assert isinstance(got, Coop) and got.status is status
        coop.status = status

    # Members and their wallets.

    @rule(
        target=member_ids,
        coop_id=coop_ids,
        number=MEMBER_NOS,
        nik=NIKS,
        verified=st.booleans(),
        crash=CRASHES,
    )
    def register_member(
        self, coop_id: int, number: str, nik: str, verified: bool, crash: bool
    ) -> object:
        tier = KycTier.VERIFIED if verified else KycTier.BASIC
        spec = a_member(coop_id=coop_id, member_no=number, nik=nik, kyc_tier=tier)
        same = [m for m in self.model.members.values() if m.row.coop_id == coop_id]
        existing = next((m for m in same if m.row.member_no == number), None)
        if existing is not None:
            expected = None if existing.spec == spec else Code.MEMBER_EXISTS_WITH_DIFFERENT_SPEC
        elif self.model.coops[coop_id].status is not ACTIVE:
            expected = Code.COOP_NOT_ACTIVE
        elif any(m.spec.nik == nik and m.status is not CLOSED for m in same):
            expected = Code.NIK_ALREADY_REGISTERED
        else:
            expected = None
        seam = MEMBER_INSERT if crash else None
        called = registry_call(lambda: self.registry.register_member(spec), seam)
        got = new_registration("register_member", called, expected, existing, Member, crash=crash)
        if got is None:
            return multiple()
        assert got.status is ACTIVE and got.nik is None
        member = self.model.members[got.id] = ModelMember(got, spec, {})
        self._record_wallet(member, MAIN_WALLET_LABEL, got.wallet_account_id)
        return got.id

    def _record_wallet(self, member: ModelMember, label: str, account_id: int) -> None:
        member.wallets[label] = account_id
        limit = tier_limits(member.spec.kyc_tier).balance_max_minor
        self.model.accounts[account_id] = ModelAccount(member, 0, limit)

    @rule(member_id=member_ids, changed=st.booleans())
    def replay_member(self, member_id: int, changed: bool) -> None:
        member = self.model.members[member_id]
        spec = replace(member.spec, name="Budi Santoso") if changed else member.spec
        got = registry_call(lambda: self.registry.register_member(spec), None)
        expected = Code.MEMBER_EXISTS_WITH_DIFFERENT_SPEC if changed else None
        check_outcome("replay_member", got, expected)
        if not changed:
            assert got == replace(member.row, status=member.status)

    @rule(target=wallet_ids, member_id=member_ids, label=LABELS, crash=CRASHES)
    def open_member_wallet(self, member_id: int, label: str, crash: bool) -> object:
        """A label in use returns its wallet whatever the member's status; a new one needs
        an active member of an active coop."""
        member = self.model.members[member_id]
        existing = member.wallets.get(label)
        opens = existing is None
        expected = None
        if opens and member.status is not ACTIVE:
            expected = Code.MEMBER_NOT_ACTIVE
        elif opens and self.model.coops[member.row.coop_id].status is not ACTIVE:
            expected = Code.COOP_NOT_ACTIVE
        seam = WALLET_INSERT if crash else None
        got = registry_call(lambda: self.registry.open_member_wallet(member_id, label), seam)
        crashes = crash and opens and expected is None
        name = f"open_member_wallet ({member.status})"
        if check_outcome(name, got, expected, crashes=crashes) or expected is not None:
            return multiple()
        assert isinstance(got, MemberWallet)
        assert (got.member_id, got.coop_id, got.label) == (member_id, member.row.coop_id, label)
        if existing is not None:
            assert got.account_id == existing
        else:
            self._record_wallet(member, label, got.account_id)
        wallets = self.registry.member_wallets(member_id)
        assert {w.label: w.account_id for w in wallets} == member.wallets
        return got.account_id

    @rule(member_id=member_ids, status=STATUSES, crash=CRASHES)
    def set_member_status(self, member_id: int, status: ParticipantStatus, crash: bool) -> None:
        member = self.model.members[member_id]
        self._change_status(
            member,
            member.wallets.values(),
            lambda: self.registry.set_member_status(member_id, status),
            MEMBER_STATUS,
            status,
            crash,
        )

    def _change_status(
        self,
        holder: ModelMember | ModelMerchant,
        wallet_ids: Iterable[int],
        change: Callable[[], object],
        seam: Seam,
        status: ParticipantStatus,
        crash: bool,
    ) -> None:
        """Run a member's or merchant's status change through `change`, crashing at `seam`
        if asked, and check it against the model's prediction."""
        expected = self.model.predict_status_change(holder.status, status, wallet_ids)
        got = registry_call(change, seam if crash else None)
        # A closed holder's "change" to closed writes nothing, so it cannot crash there.
        crashes = crash and expected is None and holder.status is not CLOSED
        kind = "member" if isinstance(holder, ModelMember) else "merchant"
        name = f"set_{kind}_status {holder.status}->{status}"
        if check_outcome(name, got, expected, crashes=crashes) or expected is not None:
            return
        assert isinstance(got, Member if kind == "member" else Merchant) and got.status is status
        holder.status = status

    # Merchants, in the bundles by their wallets' account ids.

    def _merchant(self, wallet_id: int) -> ModelMerchant:
        merchant = self.model.accounts[wallet_id].holder
        assert isinstance(merchant, ModelMerchant)
        return merchant

    @rule(
        targets=(merchant_wallet_ids, wallet_ids),
        coop_id=coop_ids,
        number=MERCHANT_NOS,
        name=st.sampled_from(["Warung Bu Siti", "Toko Pak Budi"]),
        crash=CRASHES,
    )
    def register_merchant(self, coop_id: int, number: str, name: str, crash: bool) -> object:
        spec = a_merchant(coop_id=coop_id, merchant_no=number, name=name)
        key = (coop_id, number)
        merchants = self.model.merchants.values()
        existing = next((m for m in merchants if (m.row.coop_id, m.row.merchant_no) == key), None)
        if existing is not None:
            same = existing.row.spec == spec
            expected = None if same else Code.MERCHANT_EXISTS_WITH_DIFFERENT_SPEC
        elif self.model.coops[coop_id].status is not ACTIVE:
            expected = Code.COOP_NOT_ACTIVE
        else:
            expected = None
        seam = MERCHANT_INSERT if crash else None
        called = registry_call(lambda: self.registry.register_merchant(spec), seam)
        got = new_registration(
            "register_merchant", called, expected, existing, Merchant, crash=crash
        )
        if got is None:
            return multiple()
        assert got.spec == spec and got.status is ACTIVE
        assert got.network_merchant_id == network_merchant_id(coop_id, number)
        merchant = self.model.merchants[got.id] = ModelMerchant(got)
        self.model.accounts[got.wallet_account_id] = ModelAccount(merchant, 0, None)
        return got.wallet_account_id

    @rule(wallet_id=merchant_wallet_ids, changed=st.booleans())
    def replay_merchant(self, wallet_id: int, changed: bool) -> None:
        merchant = self._merchant(wallet_id)
        spec = replace(merchant.row.spec, city="Jakarta") if changed else merchant.row.spec
        got = registry_call(lambda: self.registry.register_merchant(spec), None)
        expected = Code.MERCHANT_EXISTS_WITH_DIFFERENT_SPEC if changed else None
        check_outcome("replay_merchant", got, expected)
        if not changed:
            assert got == replace(merchant.row, status=merchant.status)

    @rule(wallet_id=merchant_wallet_ids, status=STATUSES, crash=CRASHES)
    def set_merchant_status(self, wallet_id: int, status: ParticipantStatus, crash: bool) -> None:
        merchant = self._merchant(wallet_id)
        merchant_id = merchant.row.id
        self._change_status(
            merchant,
            [wallet_id],
            lambda: self.registry.set_merchant_status(merchant_id, status),
            MERCHANT_STATUS,
            status,
            crash,
        )

    # Money.

    def _transfer(self, debit_id: int, credit_id: int, amount_minor: int) -> None:
        """Post a two-leg transfer; the ledger refuses it with the predicted code, or not."""
        expected = self.model.predict_transfer(debit_id, credit_id, amount_minor)
        self.entries += 1
        money = Money(amount_minor, "IDR")
        request = EntryRequest(
            f"{self.token}-move-{self.entries}",
            BUSINESS_DATE,
            (Leg(debit_id, -money), Leg(credit_id, money)),
        )
        try:
            self.ledger.post(request)
            got = None
        except LedgerError as error:
            got = error.code
        event(f"transfer: {got or 'recorded'}")
        assert got == expected
        if got is None:
            self.model.accounts[debit_id].posted -= amount_minor
            self.model.accounts[credit_id].posted += amount_minor

    def _cash_of(self, wallet_id: int) -> int:
        """The cash account of the wallet's coop."""
        return self.model.coop_of(self.model.accounts[wallet_id].holder).row.cash_account_id

    @rule(wallet_id=wallet_ids, rupiah=RUPIAH)
    def fund(self, wallet_id: int, rupiah: int) -> None:
        """The coop's cash pays a member's or merchant's wallet."""
        self._transfer(self._cash_of(wallet_id), wallet_id, idr(rupiah).amount_minor)

    @rule(wallet_id=wallet_ids, how=st.sampled_from(["all", "half", "more"]))
    def pay_out(self, wallet_id: int, how: str) -> None:
        """The wallet pays its coop's cash back: all of it, half of it, or one sen too much."""
        posted = self.model.accounts[wallet_id].posted
        amount = {"all": posted, "half": posted // 2, "more": posted + 1}[how]
        self._transfer(wallet_id, self._cash_of(wallet_id), max(amount, 1))

    @rule(coop_id=coop_ids, rupiah=RUPIAH, to_fee=st.booleans())
    def move_within_books(self, coop_id: int, rupiah: int, to_fee: bool) -> None:
        """Money between the coop's own cash and fee income: either can go negative."""
        row = self.model.coops[coop_id].row
        ends = (row.cash_account_id, row.fee_account_id)
        debit, credit = ends if to_fee else ends[::-1]
        self._transfer(debit, credit, idr(rupiah).amount_minor)

    @rule(coop_id=coop_ids)
    def square_books(self, coop_id: int) -> None:
        """Bring the coop's fee income back to zero (so that its books can be emptied)."""
        row = self.model.coops[coop_id].row
        fee = self.model.accounts[row.fee_account_id].posted
        if fee > 0:
            self._transfer(row.fee_account_id, row.cash_account_id, fee)
        elif fee < 0:
            self._transfer(row.cash_account_id, row.fee_account_id, -fee)

    # Invariants.

    @invariant()
    def every_account_has_exactly_one_row(self) -> None:
        """No ledger account without the registry row that points at it (nor two rows at
        one), and each is owned by the coop that its row says."""
        with self.engine.connect() as conn:
            owners = dict(conn.execute(select(account.c.id, account.c.coop_id)).all())
            pointers = _registry_pointers(conn)
        counts = Counter(account_id for account_id, _ in pointers)
        assert set(counts) == set(owners), set(owners) ^ set(counts)
        assert all(count == 1 for count in counts.values()), counts.most_common(3)
        assert all(owners[account_id] == owner for account_id, owner in pointers)

    @invariant()
    def accounts_follow_their_holders(self) -> None:
        """Wallets follow their member's or merchant's status; a coop's own accounts are
        closed exactly when the coop is (suspending a coop leaves them active)."""
        with self.engine.connect() as conn:
            pairs = _wallet_statuses(conn)
            books = _book_statuses(conn)
        for participant, ledger_status in pairs:
            assert AccountStatus(ledger_status) is LEDGER_STATUS[ParticipantStatus(participant)]
        for coop_status, ledger_status in books:
            closed = ParticipantStatus(coop_status) is CLOSED
            want = AccountStatus.CLOSED if closed else AccountStatus.ACTIVE
            assert AccountStatus(ledger_status) is want

    @invariant()
    def the_registry_and_the_ledger_agree_with_the_model(self) -> None:
        """The example's rows have the model's statuses and wallets, and its accounts the
        model's balances (and no hold)."""
        model = self.model
        with self.engine.connect() as conn:
            assert _statuses(conn, tables.coop, model.coops) == {
                i: coop.status for i, coop in model.coops.items()
            }
            assert _statuses(conn, tables.member, model.members) == {
                i: member.status for i, member in model.members.items()
            }
            assert _statuses(conn, tables.merchant, model.merchants) == {
                i: merchant.status for i, merchant in model.merchants.items()
            }
            assert _wallets(conn, model.members) == {
                i: member.wallets for i, member in model.members.items()
            }
            assert _balances(conn, model.accounts) == {
                i: (held.posted, 0, 0) for i, held in model.accounts.items()
            }

    @invariant()
    def balances_sum_to_zero(self) -> None:
        query = select(account.c.currency, func.sum(account.c.posted_minor))
        with self.engine.connect() as conn:
            totals = conn.execute(query.group_by(account.c.currency)).all()
        assert all(int(total) == 0 for _, total in totals), totals


def _registry_pointers(conn: Connection) -> list[tuple[int, int]]:
    """(account id, owning coop id) for every account id a registry row holds, once per
    row: a coop's cash, fee and due (its own) and the network's fee and due for its
    payments (the network's; the network's row points at its own fee and due twice)."""
    c = tables.coop.c
    network_id = conn.execute(select(c.id).where(c.is_network.is_(True))).scalar_one()
    pointers: list[tuple[int, int]] = []
    for row in conn.execute(select(tables.coop)):
        own = [row.cash_account_id, row.fee_account_id, row.due_account_id]
        shares = [row.network_fee_account_id, row.network_due_account_id]
        if row.is_network:
            assert shares == own[1:], "the network's row points at its own fee and due"
            shares = []
        pointers += [(account_id, row.id) for account_id in own]
        pointers += [(account_id, network_id) for account_id in shares]
    w, m = tables.member_wallet.c, tables.merchant.c
    pointers += conn.execute(select(w.account_id, w.coop_id)).all()
    pointers += conn.execute(select(m.wallet_account_id, m.coop_id)).all()
    return pointers


def _statuses(conn: Connection, table: Table, ids: Iterable[int]) -> dict[int, ParticipantStatus]:
    """The status of each row of `table` with one of these ids."""
    query = select(table.c.id, table.c.status).where(table.c.id.in_(list(ids)))
    return {int(i): ParticipantStatus(s) for i, s in conn.execute(query)}


def _wallets(conn: Connection, member_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Each of these members' wallets' account ids by label."""
    w = tables.member_wallet.c
    query = select(w.member_id, w.label, w.account_id).where(w.member_id.in_(list(member_ids)))
    wallets: dict[int, dict[str, int]] = {}
    for member_id, label, account_id in conn.execute(query):
        wallets.setdefault(int(member_id), {})[str(label)] = int(account_id)
    return wallets


def _balances(conn: Connection, account_ids: Iterable[int]) -> dict[int, tuple[int, int, int]]:
    """Posted, pending debit and pending credit of each of these accounts."""
    a = account.c
    query = select(a.id, a.posted_minor, a.pending_debit_minor, a.pending_credit_minor)
    rows = conn.execute(query.where(a.id.in_(list(account_ids))))
    return {int(i): (int(p), int(d), int(c)) for i, p, d, c in rows}


def _wallet_statuses(conn: Connection) -> list[tuple[str, str]]:
    """(participant status, ledger status) of every member's and merchant's wallet."""
    m, w, merchant = tables.member, tables.member_wallet, tables.merchant
    members = (
        select(m.c.status, account.c.status)
        .join(w, w.c.member_id == m.c.id)
        .join(account, account.c.id == w.c.account_id)
    )
    merchants = select(merchant.c.status, account.c.status).join(
        account, account.c.id == merchant.c.wallet_account_id
    )
    return [*conn.execute(members), *conn.execute(merchants)]


def _book_statuses(conn: Connection) -> list[tuple[str, str]]:
    """(coop status, ledger status) of every coop's own cash, fee and due account."""
    c = tables.coop.c
    own = or_(
        account.c.id == c.cash_account_id,
        account.c.id == c.fee_account_id,
        account.c.id == c.due_account_id,
    )
    return list(conn.execute(select(c.status, account.c.status).join(account, own)))


def machine_on(new_database: DatabaseFactory) -> type[RegistryMachine]:
    """The state machine bound to a factory of fresh migrated databases."""
    return type("RegistryMachineOnDatabase", (RegistryMachine,), {"new_database": new_database})


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_registry_agrees_with_a_plain_model(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with example_databases(engine, request, tmp_path) as fresh:
        run_settings = stateful_settings(3, (20, 25, 50))
        run_state_machine_as_test(machine_on(fresh), settings=run_settings)
