"""Registry lifecycles on both engines: statuses and wallets, extra wallets, key rotation.

Closed is final, so a coop whose members still hold savings is not closed and they can
still withdraw them (the rest of closing a coop: `test_registry_coop_close.py`). A NIK key
rotation keeps every NIK readable, every lookup and replay working, and one member per NIK
in a coop.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select, update

from interchange import tables
from interchange.nik import NikVault, NikVaultError, NikVaultErrorCode
from interchange.payment_model import CashOut
from interchange.registry import ROTATION_BATCH_SIZE_MAX, NikRotation, Registry
from interchange.registry_errors import RegistryError
from interchange.registry_errors import RegistryErrorCode as Code
from interchange.registry_model import (
    Coop,
    KycTier,
    Member,
    MemberWallet,
    ParticipantStatus,
)
from ledger.account import AccountKind, AccountStatus
from ledger.db import make_engine
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.service import Ledger
from ledger.tables import account as ledger_account
from tests.builders import idr, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.network import TestNetwork
from tests.races import blocked_rival, racing
from tests.unit.interchange.registry_builders import (
    NIK,
    a_coop,
    a_member,
    a_merchant,
    b64,
    the_network,
)

NEW_KEY = bytes(range(100, 132))
# The public development keys (interchange/nik.py), as an operator would write them.
DEV_KEY = b"kopnet-dev-nik-key-NOT-SECRET-01"
DEV_LOOKUP_KEY = b"kopnet-dev-nik-lookup-NOT-SECRET"
OTHER_NIK = "3201234567890999"


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL database, for the races SQLite cannot have."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_registry(pg_engine: Engine) -> Iterator[Registry]:
    """A registry on `pg_engine` with the network operator registered."""
    ledger = Ledger(pg_engine, seal_key=TEST_SEAL_KEY)
    registry = Registry(pg_engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
    registry.register_coop(the_network())
    yield registry
    ledger.close()


@pytest.fixture
def member(registry: Registry, coop: Coop) -> Member:
    return registry.register_member(a_member(coop_id=coop.id))


def code_of(excinfo: pytest.ExceptionInfo[RegistryError]) -> Code:
    code = excinfo.value.code
    assert isinstance(code, Code)
    return code


def wallet_statuses(registry: Registry, ledger: Ledger, member_id: int) -> list[AccountStatus]:
    return [ledger.account(w.account_id).status for w in registry.member_wallets(member_id)]


def fund(ledger: Ledger, coop: Coop, account_id: int, rupiah: int, entry_id: str) -> None:
    ledger.post(
        transfer(
            entry_id, ledger.account(coop.cash_account_id), ledger.account(account_id), idr(rupiah)
        )
    )


# Extra wallets


def test_an_extra_wallet_is_opened_once_with_the_tiers_limits(
    registry: Registry, ledger: Ledger, member: Member
) -> None:
    savings = registry.open_member_wallet(member.id, "savings")
    assert registry.open_member_wallet(member.id, "savings") == savings
    account = ledger.account(savings.account_id)
    assert account.ref == f"wallet:{member.id}:savings"
    assert (account.kind, account.coop_id) == (AccountKind.MEMBER_WALLET, member.coop_id)
    assert (account.min_balance_minor, account.max_balance_minor) == (0, 200_000_000)
    labels = [w.label for w in registry.member_wallets(member.id)]
    assert labels == ["main", "savings"]


@pytest.mark.postgres
def test_an_extra_wallet_asked_for_twice_at_once_is_opened_once(
    pg_engine: Engine, pg_registry: Registry
) -> None:
    """The second request waits on the member's lock while the first opens the wallet,
    then finds it and returns it: one wallet, one ledger account."""
    member = pg_registry.register_member(a_member(coop_id=pg_registry.register_coop(a_coop()).id))

    def looks_up_the_wallet(statement: str) -> bool:
        return "FROM interchange_member_wallet" in statement and ".label" in statement

    def open_savings() -> MemberWallet:
        return pg_registry.open_member_wallet(member.id, "savings")

    with blocked_rival(pg_engine, looks_up_the_wallet, open_savings) as rival:
        savings = open_savings()
    assert [future.result(timeout=30) for future in rival] == [savings]
    assert [w.label for w in pg_registry.member_wallets(member.id)] == ["main", "savings"]
    with pg_engine.connect() as conn:
        refs = conn.execute(
            select(ledger_account.c.ref).where(ledger_account.c.ref.like("%savings%"))
        )
        assert len(refs.all()) == 1


def test_asking_for_the_main_wallet_returns_it(registry: Registry, member: Member) -> None:
    assert registry.open_member_wallet(member.id, "main").account_id == member.wallet_account_id


def test_extra_wallets_need_a_valid_label_and_an_active_member(
    registry: Registry, member: Member
) -> None:
    with pytest.raises(RegistryError) as bad_label:
        registry.open_member_wallet(member.id, "Savings Account")
    with pytest.raises(RegistryError) as missing:
        registry.open_member_wallet(404, "savings")
    registry.set_member_status(member.id, ParticipantStatus.SUSPENDED)
    with pytest.raises(RegistryError) as suspended:
        registry.open_member_wallet(member.id, "savings")
    assert code_of(bad_label) is Code.WALLET_LABEL_INVALID
    assert code_of(missing) is Code.MEMBER_NOT_FOUND
    assert code_of(suspended) is Code.MEMBER_NOT_ACTIVE


def test_a_suspended_coop_opens_no_new_wallet_but_returns_one_it_has(
    registry: Registry, coop: Coop, member: Member
) -> None:
    """Suspending a coop stops new accounts in it, as it stops new members and merchants;
    a wallet already open is still found by its label."""
    registry.set_coop_status(coop.id, ParticipantStatus.SUSPENDED)
    with pytest.raises(RegistryError) as refused:
        registry.open_member_wallet(member.id, "savings")
    assert code_of(refused) is Code.COOP_NOT_ACTIVE
    assert registry.open_member_wallet(member.id, "main").account_id == member.wallet_account_id
    registry.set_coop_status(coop.id, ParticipantStatus.ACTIVE)
    assert registry.open_member_wallet(member.id, "savings").label == "savings"


# Statuses


def test_suspending_a_member_freezes_every_wallet_and_reactivating_unfreezes_them(
    registry: Registry, ledger: Ledger, coop: Coop, member: Member
) -> None:
    registry.open_member_wallet(member.id, "savings")
    suspended = registry.set_member_status(member.id, ParticipantStatus.SUSPENDED)
    assert suspended.status is ParticipantStatus.SUSPENDED
    assert wallet_statuses(registry, ledger, member.id) == [AccountStatus.FROZEN] * 2
    with pytest.raises(LedgerError) as frozen:
        fund(ledger, coop, member.wallet_account_id, 10, "fund-frozen")
    assert frozen.value.code is LedgerErrorCode.ACCOUNT_FROZEN
    active = registry.set_member_status(member.id, "active")
    assert active.status is ParticipantStatus.ACTIVE
    assert wallet_statuses(registry, ledger, member.id) == [AccountStatus.ACTIVE] * 2
    fund(ledger, coop, member.wallet_account_id, 10, "fund-active")


def test_a_member_with_money_cannot_be_closed_and_keeps_its_status(
    registry: Registry, ledger: Ledger, coop: Coop, member: Member
) -> None:
    fund(ledger, coop, member.wallet_account_id, 50, "fund")
    with pytest.raises(RegistryError) as caught:
        registry.set_member_status(member.id, ParticipantStatus.CLOSED)
    assert code_of(caught) is Code.WALLET_NOT_EMPTY
    assert registry.member(member.id, viewer_coop_id=coop.id) == member
    assert wallet_statuses(registry, ledger, member.id) == [AccountStatus.ACTIVE]


def test_closing_an_empty_member_closes_its_wallets_for_good(
    registry: Registry, ledger: Ledger, coop: Coop, member: Member
) -> None:
    fund(ledger, coop, member.wallet_account_id, 50, "fund")
    cash = ledger.account(coop.cash_account_id)
    ledger.post(transfer("pay-out", ledger.account(member.wallet_account_id), cash, idr(50)))
    closed = registry.set_member_status(member.id, ParticipantStatus.CLOSED)
    assert closed.status is ParticipantStatus.CLOSED
    assert wallet_statuses(registry, ledger, member.id) == [AccountStatus.CLOSED]
    assert registry.set_member_status(member.id, "closed") == closed
    with pytest.raises(RegistryError) as caught:
        registry.set_member_status(member.id, ParticipantStatus.ACTIVE)
    assert code_of(caught) is Code.STATUS_TRANSITION_INVALID


def test_a_closed_members_nik_may_join_again_under_a_new_number(
    registry: Registry, coop: Coop, member: Member
) -> None:
    registry.set_member_status(member.id, ParticipantStatus.CLOSED)
    rejoined = registry.register_member(a_member(coop_id=coop.id, member_no="A-777"))
    assert registry.find_member_by_nik(coop.id, NIK) == rejoined


def test_suspending_a_merchant_freezes_its_wallet(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    merchant = registry.register_merchant(a_merchant(coop_id=coop.id))
    suspended = registry.set_merchant_status(merchant.id, "suspended")
    assert suspended.status is ParticipantStatus.SUSPENDED
    assert ledger.account(merchant.wallet_account_id).status is AccountStatus.FROZEN
    registry.set_merchant_status(merchant.id, ParticipantStatus.ACTIVE)
    assert ledger.account(merchant.wallet_account_id).status is AccountStatus.ACTIVE
    registry.set_merchant_status(merchant.id, ParticipantStatus.CLOSED)
    assert ledger.account(merchant.wallet_account_id).status is AccountStatus.CLOSED


def test_a_suspended_coop_still_replays_what_it_registered_and_closed_is_final(
    registry: Registry, coop: Coop, member: Member
) -> None:
    registry.set_coop_status(coop.id, ParticipantStatus.SUSPENDED)
    assert registry.register_member(a_member(coop_id=coop.id)) == member
    assert registry.register_coop(a_coop()).status is ParticipantStatus.SUSPENDED
    with pytest.raises(RegistryError) as open_member:
        registry.set_coop_status(coop.id, "closed")
    assert code_of(open_member) is Code.COOP_NOT_EMPTY
    registry.set_member_status(member.id, "closed")
    assert registry.set_coop_status(coop.id, "closed").status is ParticipantStatus.CLOSED
    with pytest.raises(RegistryError) as caught:
        registry.set_coop_status(coop.id, "active")
    assert code_of(caught) is Code.STATUS_TRANSITION_INVALID


def test_closing_a_coop_never_traps_its_members_savings(net: TestNetwork) -> None:
    """Closed is final, so a coop closes only once its members and merchants are closed
    (each with empty wallets): while a member still holds savings the close is refused
    (`coop_not_empty`) and the member can still withdraw at any counter."""
    ksa, ksb = net.add_coop("KSA"), net.add_coop("KSB")
    ani = net.add_member("ani", ksa, cash_in=100_000)
    registry = net.services.registry
    with pytest.raises(RegistryError) as refused:
        registry.set_coop_status(ksa.id, "closed")
    assert refused.value.code == Code.COOP_NOT_EMPTY
    assert registry.coop(ksa.id).status == "active"
    outcome = net.services.payments.submit(CashOut("withdraw", ani.id, ksb.id, idr(50_000)))
    assert outcome.ok, f"the member's savings are stuck: {outcome.code}"


def test_an_unknown_status_is_refused(registry: Registry, member: Member) -> None:
    with pytest.raises(RegistryError) as caught:
        registry.set_member_status(member.id, "frozen")
    assert code_of(caught) is Code.STATUS_INVALID


# NIK keys


def rotated_vault() -> NikVault:
    return NikVault.development().with_current_key("k2", NEW_KEY)


def key_ids_and_tokens(ledger: Ledger) -> dict[int, tuple[str, str]]:
    m = tables.member.c
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(m.id, m.nik_key_id, m.nik_ciphertext)).all()
    return {row.id: (row.nik_key_id, row.nik_ciphertext) for row in rows}


def test_rotation_re_encrypts_every_nik_under_the_current_key(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    niks = [f"32012345678901{n:02d}" for n in range(5)]
    members = [
        registry.register_member(a_member(coop_id=coop.id, member_no=f"A-{n}", nik=nik))
        for n, nik in enumerate(niks)
    ]
    before = key_ids_and_tokens(ledger)
    rotating = Registry(ledger.engine, rotated_vault(), seal_key=TEST_SEAL_KEY)
    assert rotating.rotate_nik_keys(batch_size=2) == NikRotation(rotated=5)
    after = key_ids_and_tokens(ledger)
    assert {key_id for key_id, _ in after.values()} == {"k2"}
    assert all(after[i][1] != before[i][1] for i in before)
    for member, nik in zip(members, niks, strict=True):
        seen = rotating.member(member.id, viewer_coop_id=coop.id, include_nik=True)
        assert isinstance(seen, Member)
        assert seen.nik == nik
        assert rotating.find_member_by_nik(coop.id, nik) == member
    assert rotating.rotate_nik_keys() == NikRotation()


def test_a_rotation_batch_size_out_of_range_is_refused_before_any_nik_is_touched(
    ledger: Ledger, member: Member
) -> None:
    before = key_ids_and_tokens(ledger)
    rotating = Registry(ledger.engine, rotated_vault(), seal_key=TEST_SEAL_KEY)
    for size in (0, ROTATION_BATCH_SIZE_MAX + 1, True, 2.0):
        with pytest.raises(RegistryError) as refused:
            rotating.rotate_nik_keys(batch_size=size)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.field) == (Code.BATCH_SIZE_INVALID, "batch_size")
    assert key_ids_and_tokens(ledger) == before
    assert rotating.rotate_nik_keys(batch_size=ROTATION_BATCH_SIZE_MAX).rotated == 1


def test_after_rotation_a_vault_without_the_new_key_cannot_read_niks(
    registry: Registry, ledger: Ledger, coop: Coop, member: Member
) -> None:
    Registry(ledger.engine, rotated_vault(), seal_key=TEST_SEAL_KEY).rotate_nik_keys()
    with pytest.raises(NikVaultError) as caught:
        registry.member(member.id, viewer_coop_id=coop.id, include_nik=True)
    assert caught.value.code is NikVaultErrorCode.NIK_KEY_UNKNOWN


def test_a_ciphertext_copied_from_another_member_is_detected(
    registry: Registry, ledger: Ledger, coop: Coop, member: Member
) -> None:
    other = registry.register_member(
        a_member(coop_id=coop.id, member_no="B-1", nik="3201234567890999")
    )
    m = tables.member.c
    with ledger.engine.begin() as conn:
        token = conn.execute(select(m.nik_ciphertext).where(m.id == other.id)).scalar_one()
        conn.execute(update(tables.member).where(m.id == member.id).values(nik_ciphertext=token))
    with pytest.raises(NikVaultError) as caught:
        registry.member(member.id, viewer_coop_id=coop.id, include_nik=True)
    assert caught.value.code is NikVaultErrorCode.NIK_TOKEN_INVALID


def test_after_rotating_keys_replays_lookups_and_the_one_member_per_nik_rule_still_hold(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """Rotation through the operator's setting (a new first key, the old one kept, the same
    lookup key): old and re-encrypted rows decrypt, a replay under the old key id is still
    a replay, and the NIK stays taken."""
    member = registry.register_member(a_member(coop_id=coop.id))
    dev = NikVault.development()
    setting = f"k2:{b64(NEW_KEY)}, dev1:{b64(DEV_KEY)} ; lookup:{b64(DEV_LOOKUP_KEY)}"
    rotated = NikVault.from_setting(setting)
    assert rotated.current_key_id == "k2"
    assert rotated.lookup_hash(NIK) == dev.lookup_hash(NIK)
    after = Registry(ledger.engine, rotated, seal_key=TEST_SEAL_KEY)
    seen = after.member(member.id, viewer_coop_id=coop.id, include_nik=True)
    assert isinstance(seen, Member)
    assert seen.nik == NIK  # still under the old key
    assert after.register_member(a_member(coop_id=coop.id)) == member
    with pytest.raises(RegistryError) as caught:
        after.register_member(a_member(coop_id=coop.id, member_no="B-1"))
    assert caught.value.code is Code.NIK_ALREADY_REGISTERED
    second = after.register_member(a_member(coop_id=coop.id, member_no="B-2", nik=OTHER_NIK))
    assert after.rotate_nik_keys() == NikRotation(rotated=1)
    for who, nik in ((member, NIK), (second, OTHER_NIK)):
        assert after.find_member_by_nik(coop.id, nik) == who
        full = after.member(who.id, viewer_coop_id=coop.id, include_nik=True)
        assert isinstance(full, Member)
        assert full.nik == nik
    with pytest.raises(RegistryError) as conflict:
        after.register_member(a_member(coop_id=coop.id, nik=OTHER_NIK))
    assert conflict.value.code is Code.MEMBER_EXISTS_WITH_DIFFERENT_SPEC


# Concurrency


def test_concurrent_registrations_of_one_coop_give_one_coop(registry: Registry) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        coops = list(pool.map(lambda _: registry.register_coop(a_coop()), range(8)))
    assert len(set(coops)) == 1


@pytest.mark.postgres
def test_a_registration_that_finishes_while_a_retry_checks_for_it_is_replayed(
    pg_engine: Engine,
) -> None:
    """A retry of the network operator's registration (which waits for no lock) looks for
    it by its code, for its registration number and for a network operator. Another
    attempt commits the operator right after the retry's lookup: the retry must still
    return it, never refuse its own registration number as taken (which separate lookups,
    each seeing what had committed when it ran, once did)."""
    registry = Registry(pg_engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
    spec = the_network()

    def looks_up_the_coop(statement: str) -> bool:
        return "FROM interchange_coop" in statement and "interchange_coop.code" in statement

    with racing(pg_engine, looks_up_the_coop, lambda: registry.register_coop(spec)) as raced:
        coop = registry.register_coop(spec)
    assert raced == [coop]


@pytest.mark.postgres
def test_a_coop_registered_twice_at_once_waits_for_the_first_and_replays_it(
    pg_engine: Engine, pg_registry: Registry
) -> None:
    """A coop joins under the network operator's lock: the second registration waits for
    the first, then finds the coop and returns it."""
    spec = a_coop()

    def locks_the_operator(statement: str) -> bool:
        return "FROM interchange_coop" in statement and "FOR NO KEY UPDATE" in statement

    with blocked_rival(
        pg_engine, locks_the_operator, lambda: pg_registry.register_coop(spec)
    ) as rival:
        coop = pg_registry.register_coop(spec)
    assert [future.result(timeout=30) for future in rival] == [coop]


def test_concurrent_members_with_one_nik_give_one_member(registry: Registry, coop: Coop) -> None:
    def register(n: int) -> Code | int:
        try:
            spec = a_member(coop_id=coop.id, member_no=f"A-{n}", kyc_tier=KycTier.BASIC)
            return registry.register_member(spec).id
        except RegistryError as error:
            return Code(error.code)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(register, range(6)))
    assert sum(isinstance(r, int) for r in results) == 1
    assert [r for r in results if not isinstance(r, int)] == [Code.NIK_ALREADY_REGISTERED] * 5
