"""Registering coops, members and merchants on both engines: idempotency, conflicts, privacy."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from interchange import tables
from interchange.nik import NikVault
from interchange.registry import Registry
from interchange.registry_errors import RegistryError
from interchange.registry_errors import RegistryErrorCode as Code
from interchange.registry_model import (
    Coop,
    KycTier,
    MaskedMember,
    Member,
    ParticipantStatus,
)
from interchange.registry_refs import COOP_ID_MAX
from ledger import tables as ledger_tables
from ledger.account import AccountKind, AccountSpec, AccountStatus
from ledger.service import Ledger
from tests.conftest import TEST_SEAL_KEY
from tests.unit.interchange.registry_builders import (
    FORMULA,
    NIK,
    UNICODE_NAMES,
    a_coop,
    a_member,
    a_merchant,
    the_network,
)

MARKUP = "<script>alert('x')</script>"


@pytest.fixture
def bare_registry(ledger: Ledger) -> Registry:
    return Registry(ledger.engine, NikVault.development(), seal_key=TEST_SEAL_KEY)


@pytest.fixture
def network(bare_registry: Registry) -> Coop:
    return bare_registry.register_coop(the_network())


@pytest.fixture
def registry(bare_registry: Registry, network: Coop) -> Registry:
    """A registry with the network operator registered."""
    return bare_registry


def code_of(excinfo: pytest.ExceptionInfo[RegistryError]) -> Code:
    code = excinfo.value.code
    assert isinstance(code, Code)
    return code


def raw_member_row(ledger: Ledger, member_id: int) -> dict[str, object]:
    with ledger.engine.connect() as conn:
        row = conn.execute(select(tables.member).where(tables.member.c.id == member_id)).one()
    return dict(row._mapping)


# Coops


def test_registering_a_coop_opens_its_cash_fee_and_due_accounts(
    registry: Registry, ledger: Ledger, network: Coop
) -> None:
    coop = registry.register_coop(a_coop(net_debit_cap_minor=5_000_000))
    assert coop.status is ParticipantStatus.ACTIVE
    cash, fee, due = (
        ledger.account(i) for i in (coop.cash_account_id, coop.fee_account_id, coop.due_account_id)
    )
    assert (cash.ref, fee.ref, due.ref) == (
        "coop:KSP-01:cash",
        "coop:KSP-01:fee",
        "coop:KSP-01:due",
    )
    assert (cash.kind, fee.kind, due.kind) == (
        AccountKind.COOP_CASH,
        AccountKind.FEE_INCOME,
        AccountKind.SETTLEMENT,
    )
    assert {a.coop_id for a in (cash, fee, due)} == {coop.id}
    assert (cash.min_balance_minor, fee.min_balance_minor, due.min_balance_minor) == (None,) * 3
    # The net debit cap bounds the coop's payments (`interchange.routing_checks`), not its
    # due account: a settlement payment is booked whatever the balance.
    assert (cash.max_balance_minor, fee.max_balance_minor, due.max_balance_minor) == (None,) * 3
    network_fee, network_due = (
        ledger.account(i) for i in (coop.network_fee_account_id, coop.network_due_account_id)
    )
    assert (network_fee.ref, network_due.ref) == ("network:KSP-01:fee", "network:KSP-01:due")
    assert (network_fee.kind, network_due.kind) == (AccountKind.FEE_INCOME, AccountKind.SETTLEMENT)
    assert network_fee.coop_id == network_due.coop_id == network.id
    assert (network_fee.max_balance_minor, network_due.max_balance_minor) == (None, None)


def test_the_network_operator_books_its_own_payments_on_its_own_accounts(
    network: Coop, ledger: Ledger
) -> None:
    assert network.network_fee_account_id == network.fee_account_id
    assert network.network_due_account_id == network.due_account_id
    assert ledger.account(network.due_account_id).max_balance_minor is None


def test_registering_the_same_coop_twice_returns_the_first_registration(
    registry: Registry, coop: Coop
) -> None:
    assert registry.register_coop(a_coop()) == coop
    assert registry.coop(coop.id) == coop
    assert registry.coop_by_code("KSP-01") == coop


def test_the_same_coop_code_with_a_different_spec_is_a_conflict(
    registry: Registry, coop: Coop
) -> None:
    with pytest.raises(RegistryError) as caught:
        registry.register_coop(a_coop(net_debit_cap_minor=coop.net_debit_cap_minor + 1))
    assert code_of(caught) is Code.COOP_EXISTS_WITH_DIFFERENT_SPEC


def test_a_registration_number_belongs_to_one_coop(registry: Registry, coop: Coop) -> None:
    with pytest.raises(RegistryError) as caught:
        registry.register_coop(a_coop(code="KSP-02", registration_no=coop.registration_no))
    assert code_of(caught) is Code.COOP_REGISTRATION_NO_TAKEN


def test_the_network_operator_registers_first_and_once(bare_registry: Registry) -> None:
    registry = bare_registry
    with pytest.raises(RegistryError) as missing:
        registry.network_coop()
    assert code_of(missing) is Code.COOP_NOT_FOUND
    with pytest.raises(RegistryError) as early:
        registry.register_coop(a_coop())
    assert code_of(early) is Code.NETWORK_NOT_REGISTERED
    network = registry.register_coop(the_network())
    assert registry.network_coop() == network
    with pytest.raises(RegistryError) as second:
        registry.register_coop(a_coop(code="KOPNET-2", net_debit_cap_minor=0, is_network=True))
    assert code_of(second) is Code.NETWORK_COOP_EXISTS
    assert registry.register_coop(a_coop()).code == "KSP-01"


def test_the_database_itself_refuses_a_second_network_operator(
    ledger: Ledger, network: Coop
) -> None:
    c = tables.coop.c
    with ledger.engine.connect() as conn:
        row = dict(conn.execute(select(tables.coop).where(c.id == network.id)).one()._mapping)
    row |= {"id": network.id + 100, "code": "KOPNET-2", "registration_no": "AHU-KOPNET-2"}
    with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
        conn.execute(insert(tables.coop).values(row))


def test_distinct_coops_get_distinct_ids_and_accounts(registry: Registry) -> None:
    coops = [registry.register_coop(a_coop(code=f"KSP-{n}")) for n in range(3)]
    assert len({c.id for c in coops}) == 3
    assert len({c.cash_account_id for c in coops}) == 3


def open_accounts_of_a_crashed_registration(ledger: Ledger, code: str, coop_id: int) -> list[int]:
    # A first attempt opened the accounts under a reserved id, then died before the row.
    return [
        ledger.open_account(AccountSpec(f"coop:{code}:{p}", coop_id, "IDR", kind, None)).id
        for p, kind in (
            ("cash", AccountKind.COOP_CASH),
            ("fee", AccountKind.FEE_INCOME),
            ("due", AccountKind.SETTLEMENT),
        )
    ]


def test_accounts_left_by_a_crashed_registration_are_reused_with_their_coop_id(
    registry: Registry, ledger: Ledger
) -> None:
    left = open_accounts_of_a_crashed_registration(ledger, "KSP-09", 41)
    coop = registry.register_coop(a_coop(code="KSP-09"))
    assert coop.id == 41
    assert [coop.cash_account_id, coop.fee_account_id, coop.due_account_id] == left


def test_a_fresh_coop_id_skips_the_ids_resumed_registrations_took(
    registry: Registry, ledger: Ledger, network: Coop
) -> None:
    next_id = network.id + 1
    open_accounts_of_a_crashed_registration(ledger, "KSP-09", next_id)
    resumed = registry.register_coop(a_coop(code="KSP-09"))
    fresh = registry.register_coop(a_coop(code="KSP-10"))
    assert resumed.id == next_id
    assert fresh.id > next_id
    assert ledger.account(fresh.cash_account_id).coop_id == fresh.id


def test_a_coop_whose_id_would_not_fit_a_merchant_id_is_refused_and_nothing_is_written(
    registry: Registry, ledger: Ledger
) -> None:
    """Past `COOP_ID_MAX` (ids drawn by failed registrations count too) a coop is refused
    `coop_ids_exhausted` when it registers, not when its first merchant does."""
    if ledger.engine.dialect.name == "postgresql":
        with ledger.engine.begin() as conn:
            sequence = func.pg_get_serial_sequence(tables.coop.name, "id")
            conn.execute(select(func.setval(sequence, COOP_ID_MAX)))
    else:
        open_accounts_of_a_crashed_registration(ledger, "KSP-09", COOP_ID_MAX)
    with pytest.raises(RegistryError) as refused:
        registry.register_coop(a_coop(code="KSP-10"))
    assert (code_of(refused), refused.value.field) == (Code.COOP_IDS_EXHAUSTED, "code")
    with pytest.raises(RegistryError):
        registry.coop_by_code("KSP-10")


def test_unknown_coops_are_named_as_such(registry: Registry) -> None:
    with pytest.raises(RegistryError) as by_id:
        registry.coop(404)
    with pytest.raises(RegistryError) as by_code:
        registry.coop_by_code("NOPE")
    assert code_of(by_id) is code_of(by_code) is Code.COOP_NOT_FOUND


@pytest.mark.parametrize("key", ["K" * 21, "KN" + "0" * 10_000])
def test_a_code_or_merchant_id_longer_than_any_stored_is_not_found_without_a_lookup(
    registry: Registry, key: str
) -> None:
    with pytest.raises(RegistryError) as by_code:
        registry.coop_by_code(key)
    with pytest.raises(RegistryError) as by_merchant_id:
        registry.merchant_by_network_id(key)
    assert code_of(by_code) is Code.COOP_NOT_FOUND
    assert code_of(by_merchant_id) is Code.MERCHANT_NOT_FOUND


@pytest.mark.parametrize("coop_id", ["1", 1.0, True, None])
def test_a_member_or_merchant_of_a_coop_id_that_is_no_id_is_coop_not_found(
    registry: Registry, coop_id: object
) -> None:
    """Bad input from a caller is a named refusal, not an AssertionError."""
    with pytest.raises(RegistryError) as member:
        registry.register_member(a_member(coop_id=coop_id))
    with pytest.raises(RegistryError) as merchant:
        registry.register_merchant(a_merchant(coop_id=coop_id))
    assert code_of(member) is code_of(merchant) is Code.COOP_NOT_FOUND


def test_an_invalid_coop_spec_is_refused_before_anything_is_written(
    registry: Registry, ledger: Ledger
) -> None:
    with pytest.raises(RegistryError) as caught:
        registry.register_coop(a_coop(code="bad code"))
    assert code_of(caught) is Code.COOP_CODE_INVALID
    with pytest.raises(RegistryError):
        registry.coop_by_code("bad code")


def row_counts(ledger: Ledger) -> tuple[int, int]:
    """How many coops and ledger accounts are stored."""
    with ledger.engine.connect() as conn:
        coops = conn.execute(select(func.count()).select_from(tables.coop)).scalar_one()
        accounts = conn.execute(select(func.count()).select_from(ledger_tables.account))
        return coops, accounts.scalar_one()


@pytest.mark.parametrize("is_network", [1, 0, "true", None])
def test_a_coop_whose_is_network_is_no_bool_is_refused_and_nothing_is_written(
    registry: Registry, ledger: Ledger, is_network: object
) -> None:
    """Bad input from a caller is a named refusal, not an AssertionError."""
    before = row_counts(ledger)
    with pytest.raises(RegistryError) as caught:
        registry.register_coop(a_coop(is_network=is_network))
    assert code_of(caught) is Code.IS_NETWORK_INVALID
    assert caught.value.field == "is_network"
    assert row_counts(ledger) == before


# Members


def test_registering_a_member_opens_a_main_wallet_limited_by_the_tier(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    member = registry.register_member(a_member(coop_id=coop.id, kyc_tier=KycTier.VERIFIED))
    wallet = ledger.account(member.wallet_account_id)
    assert wallet.ref == f"member:{coop.id}:A-001:main"
    assert (wallet.kind, wallet.coop_id) == (AccountKind.MEMBER_WALLET, coop.id)
    assert (wallet.min_balance_minor, wallet.max_balance_minor) == (0, 2_000_000_000)
    assert member.phone == "+6281234567890"
    assert [w.label for w in registry.member_wallets(member.id)] == ["main"]


def test_registering_the_same_member_twice_returns_the_first_registration(
    registry: Registry, coop: Coop
) -> None:
    first = registry.register_member(a_member(coop_id=coop.id))
    # The same phone written differently is the same phone.
    again = registry.register_member(a_member(coop_id=coop.id, phone="+62 812-3456-7890"))
    assert again == first


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Siti Aminah Putri"},
        {"nik": "3201234567890999"},
        {"kyc_tier": KycTier.VERIFIED},
        {"phone": "081299999999"},
    ],
)
def test_the_same_member_number_with_a_different_spec_is_a_conflict(
    registry: Registry, coop: Coop, change: dict[str, object]
) -> None:
    registry.register_member(a_member(coop_id=coop.id))
    with pytest.raises(RegistryError) as caught:
        registry.register_member(a_member(coop_id=coop.id, **change))
    assert code_of(caught) is Code.MEMBER_EXISTS_WITH_DIFFERENT_SPEC


def test_a_nik_belongs_to_one_member_of_a_coop_but_may_join_another_coop(
    registry: Registry, coop: Coop
) -> None:
    registry.register_member(a_member(coop_id=coop.id))
    with pytest.raises(RegistryError) as caught:
        registry.register_member(a_member(coop_id=coop.id, member_no="A-002"))
    assert code_of(caught) is Code.NIK_ALREADY_REGISTERED
    other = registry.register_coop(a_coop(code="KSP-02"))
    assert registry.register_member(a_member(coop_id=other.id)).coop_id == other.id


def test_members_join_only_coops_that_exist_and_are_active(registry: Registry, coop: Coop) -> None:
    with pytest.raises(RegistryError) as missing:
        registry.register_member(a_member(coop_id=404))
    assert code_of(missing) is Code.COOP_NOT_FOUND
    registry.set_coop_status(coop.id, ParticipantStatus.SUSPENDED)
    with pytest.raises(RegistryError) as suspended:
        registry.register_member(a_member(coop_id=coop.id))
    assert code_of(suspended) is Code.COOP_NOT_ACTIVE


def test_the_nik_is_stored_encrypted_with_its_key_id_and_lookup_hash(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    member = registry.register_member(a_member(coop_id=coop.id))
    row = raw_member_row(ledger, member.id)
    assert all(NIK not in str(value) for value in row.values())
    assert row["nik_key_id"] == "dev1"
    assert row["nik_lookup"] == NikVault.development().lookup_hash(NIK)
    assert NikVault.development().decrypt("dev1", str(row["nik_ciphertext"])) == NIK


def test_its_own_coop_sees_the_member_in_full_and_the_nik_only_when_asked(
    registry: Registry, coop: Coop
) -> None:
    member = registry.register_member(a_member(coop_id=coop.id))
    plain = registry.member(member.id, viewer_coop_id=coop.id)
    assert isinstance(plain, Member)
    assert plain.nik is None
    assert plain == member
    full = registry.member(member.id, viewer_coop_id=coop.id, include_nik=True)
    assert isinstance(full, Member)
    assert full.nik == NIK


def test_another_coop_sees_only_a_masked_name(registry: Registry, coop: Coop) -> None:
    member = registry.register_member(a_member(coop_id=coop.id))
    other = registry.register_coop(a_coop(code="KSP-02"))
    seen = registry.member(member.id, viewer_coop_id=other.id, include_nik=True)
    assert seen == MaskedMember(id=member.id, coop_id=coop.id, masked_name="S**i A****h")


def test_finds_a_member_by_nik_within_its_own_coop_only(registry: Registry, coop: Coop) -> None:
    member = registry.register_member(a_member(coop_id=coop.id))
    other = registry.register_coop(a_coop(code="KSP-02"))
    assert registry.find_member_by_nik(coop.id, NIK) == member
    assert registry.find_member_by_nik(other.id, NIK) is None
    assert registry.find_member_by_nik(coop.id, "3201234567890999") is None
    with pytest.raises(RegistryError) as caught:
        registry.find_member_by_nik(coop.id, "not-a-nik")
    assert code_of(caught) is Code.NIK_INVALID


def test_an_unknown_member_is_named_as_such(registry: Registry, coop: Coop) -> None:
    with pytest.raises(RegistryError) as caught:
        registry.member(404, viewer_coop_id=coop.id)
    assert code_of(caught) is Code.MEMBER_NOT_FOUND


@pytest.mark.parametrize("name", [MARKUP, FORMULA, *UNICODE_NAMES])
def test_member_names_are_stored_exactly_as_given(
    registry: Registry, ledger: Ledger, coop: Coop, name: str
) -> None:
    member = registry.register_member(a_member(coop_id=coop.id, name=name))
    assert raw_member_row(ledger, member.id)["name"] == name
    assert registry.member(member.id, viewer_coop_id=coop.id) == member
    assert member.name == name


# Merchants


def test_registering_a_merchant_gives_it_a_network_id_and_a_wallet(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    merchant = registry.register_merchant(a_merchant(coop_id=coop.id))
    assert merchant.network_merchant_id == f"KN{coop.id:06d}TOKO-7"
    wallet = ledger.account(merchant.wallet_account_id)
    assert (wallet.kind, wallet.coop_id, wallet.status) == (
        AccountKind.MERCHANT_WALLET,
        coop.id,
        AccountStatus.ACTIVE,
    )
    assert (wallet.min_balance_minor, wallet.max_balance_minor) == (0, None)
    assert registry.merchant(merchant.id) == merchant
    assert registry.merchant_by_network_id(merchant.network_merchant_id) == merchant


def test_registering_the_same_merchant_twice_returns_the_first_registration(
    registry: Registry, coop: Coop
) -> None:
    first = registry.register_merchant(a_merchant(coop_id=coop.id))
    assert registry.register_merchant(a_merchant(coop_id=coop.id, criteria="UMI")) == first


def test_the_same_merchant_number_with_a_different_spec_is_a_conflict(
    registry: Registry, coop: Coop
) -> None:
    registry.register_merchant(a_merchant(coop_id=coop.id))
    with pytest.raises(RegistryError) as caught:
        registry.register_merchant(a_merchant(coop_id=coop.id, city="Bogor"))
    assert code_of(caught) is Code.MERCHANT_EXISTS_WITH_DIFFERENT_SPEC


def test_merchants_join_only_coops_that_exist_and_are_active(
    registry: Registry, coop: Coop
) -> None:
    with pytest.raises(RegistryError) as missing:
        registry.register_merchant(a_merchant(coop_id=404))
    assert code_of(missing) is Code.COOP_NOT_FOUND
    registry.set_coop_status(coop.id, "suspended")
    with pytest.raises(RegistryError) as suspended:
        registry.register_merchant(a_merchant(coop_id=coop.id))
    assert code_of(suspended) is Code.COOP_NOT_ACTIVE


def test_an_unknown_merchant_is_named_as_such(registry: Registry) -> None:
    with pytest.raises(RegistryError) as by_id:
        registry.merchant(404)
    with pytest.raises(RegistryError) as by_network_id:
        registry.merchant_by_network_id("KN000404X")
    assert code_of(by_id) is code_of(by_network_id) is Code.MERCHANT_NOT_FOUND


@pytest.mark.parametrize("name", ["<b>Toko</b>", "=1+1", "@Warung", "王小明的店", "Ñoño's"])
def test_merchant_names_are_stored_exactly_as_given(
    registry: Registry, ledger: Ledger, coop: Coop, name: str
) -> None:
    merchant = registry.register_merchant(a_merchant(coop_id=coop.id, name=name))
    with ledger.engine.connect() as conn:
        stored = conn.execute(
            select(tables.merchant.c.name).where(tables.merchant.c.id == merchant.id)
        ).scalar_one()
    assert stored == name == registry.merchant(merchant.id).name
