"""NIK keys checked against the database, on both engines, and rotation past unreadable NIKs.

A database records the fingerprint of each NIK key id and of the lookup key the first time
a registry uses them. A vault whose key id or lookup key stands for other bytes is refused
as `nik_key_mismatch` before any NIK is written or looked up, and records nothing; a vault
that adds a key id is accepted, and that id's fingerprint recorded. Rotation passes over a
NIK it cannot read, rotates every other, and reports the members it passed over.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import Engine, func, select, update

from interchange import tables
from interchange.nik import LOOKUP_KEY_NAME, NikVault, NikVaultError, NikVaultErrorCode
from interchange.registry import NikRotation, Registry
from interchange.registry_model import Coop, Member
from ledger.db import make_engine
from ledger.service import Ledger
from tests.conftest import TEST_SEAL_KEY
from tests.races import racing
from tests.unit.interchange.registry_builders import NIK, a_member

DEV_KEY = b"kopnet-dev-nik-key-NOT-SECRET-01"
DEV_LOOKUP_KEY = b"kopnet-dev-nik-lookup-NOT-SECRET"
NEW_KEY = bytes(range(100, 132))
MISTYPED_KEY = bytes(range(132, 164))
OTHER_NIK = "3201234567890999"


def registry_with(ledger: Ledger, vault: NikVault) -> Registry:
    return Registry(ledger.engine, vault, seal_key=TEST_SEAL_KEY)


def recorded(engine: Engine) -> dict[str, str]:
    k = tables.nik_key.c
    with engine.connect() as conn:
        return {
            row.key_name: row.fingerprint for row in conn.execute(select(k.key_name, k.fingerprint))
        }


def member_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.member)).scalar_one())


def assert_mismatch(caught: pytest.ExceptionInfo[NikVaultError], *secrets: bytes) -> None:
    """The refusal's code, and a message that shows none of the keys it was given."""
    assert (caught.value.code, caught.value.field) == (NikVaultErrorCode.NIK_KEY_MISMATCH, "keys")
    shown = f"{caught.value} {caught.value!r}"
    for secret in secrets:
        assert base64.b64encode(secret).decode() not in shown
        assert secret.hex() not in shown


def test_the_first_use_records_the_development_vaults_fingerprints(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """The development vault is checked like any other: its keys are recorded on first use."""
    assert recorded(ledger.engine) == {}
    registry.register_member(a_member(coop_id=coop.id))
    assert recorded(ledger.engine) == NikVault.development().fingerprints()
    assert set(recorded(ledger.engine)) == {"dev1", LOOKUP_KEY_NAME}


def test_a_key_id_given_other_bytes_is_refused_and_nothing_is_written(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """A mistyped key under a known id would write NIKs the real key cannot read: the
    registration is refused before it writes, and the new id beside it is not recorded."""
    member = registry.register_member(a_member(coop_id=coop.id))
    before = recorded(ledger.engine)
    mistyped = NikVault({"k3": NEW_KEY, "dev1": MISTYPED_KEY}, "k3", DEV_LOOKUP_KEY)
    wrong = registry_with(ledger, mistyped)
    with pytest.raises(NikVaultError) as caught:
        wrong.register_member(a_member(coop_id=coop.id, member_no="B-1", nik=OTHER_NIK))
    assert_mismatch(caught, MISTYPED_KEY, NEW_KEY)
    assert "'dev1'" in caught.value.message
    assert (member_count(ledger.engine), recorded(ledger.engine)) == (1, before)
    for use in (
        lambda: wrong.member(member.id, viewer_coop_id=coop.id, include_nik=True),
        lambda: wrong.find_member_by_nik(coop.id, NIK),
        wrong.rotate_nik_keys,
    ):
        with pytest.raises(NikVaultError) as again:
            use()
        assert again.value.code is NikVaultErrorCode.NIK_KEY_MISMATCH
    assert recorded(ledger.engine) == before


def test_another_lookup_key_is_refused_so_a_taken_nik_stays_taken(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """With another lookup key a NIK hashes differently, so a second member of the coop
    could take it and lookups would miss the first: both are refused instead."""
    registry.register_member(a_member(coop_id=coop.id))
    wrong = registry_with(ledger, NikVault({"dev1": DEV_KEY}, "dev1", MISTYPED_KEY))
    with pytest.raises(NikVaultError) as caught:
        wrong.register_member(a_member(coop_id=coop.id, member_no="B-1"))
    assert_mismatch(caught, MISTYPED_KEY)
    assert "lookup key" in caught.value.message
    with pytest.raises(NikVaultError) as lookup:
        wrong.find_member_by_nik(coop.id, NIK)
    assert lookup.value.code is NikVaultErrorCode.NIK_KEY_MISMATCH
    assert member_count(ledger.engine) == 1


def test_a_vault_adding_a_key_id_is_accepted_and_its_fingerprint_recorded(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """Rotation's first step (a new current key, the old ones kept) is accepted; once
    recorded, the new id cannot stand for other bytes either."""
    first = registry.register_member(a_member(coop_id=coop.id))
    rotated = NikVault.development().with_current_key("k2", NEW_KEY)
    after = registry_with(ledger, rotated)
    second = after.register_member(a_member(coop_id=coop.id, member_no="B-1", nik=OTHER_NIK))
    assert recorded(ledger.engine) == rotated.fingerprints()
    assert set(recorded(ledger.engine)) == {"dev1", "k2", LOOKUP_KEY_NAME}
    assert after.find_member_by_nik(coop.id, NIK) == first
    assert after.find_member_by_nik(coop.id, OTHER_NIK) == second
    mistyped = NikVault.development().with_current_key("k2", MISTYPED_KEY)
    with pytest.raises(NikVaultError) as caught:
        registry_with(ledger, mistyped).check_nik_keys()
    assert_mismatch(caught, MISTYPED_KEY)
    assert "'k2'" in caught.value.message


@pytest.mark.parametrize(
    "vault",
    [
        NikVault({"dev1": MISTYPED_KEY}, "dev1", DEV_LOOKUP_KEY),
        NikVault({"dev1": DEV_KEY}, "dev1", MISTYPED_KEY),
    ],
    ids=["key", "lookup-key"],
)
def test_keys_first_recorded_after_niks_were_written_must_read_them(
    registry: Registry, ledger: Ledger, coop: Coop, vault: NikVault
) -> None:
    """On a database whose NIKs were written before any fingerprint was recorded (one
    upgraded to 0010), the first vault is not taken on trust: a NIK stored under each key
    id it records, and one for its lookup key, must read and match its hash."""
    registry.register_member(a_member(coop_id=coop.id))
    with ledger.engine.begin() as conn:
        conn.execute(tables.nik_key.delete())
    with pytest.raises(NikVaultError) as caught:
        registry_with(ledger, vault).check_nik_keys()
    assert_mismatch(caught, MISTYPED_KEY)
    assert recorded(ledger.engine) == {}
    registry_with(ledger, NikVault.development()).check_nik_keys()
    assert recorded(ledger.engine) == NikVault.development().fingerprints()


def test_one_nik_altered_behind_the_registry_does_not_lock_the_right_keys_out(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """Before the keys are recorded the newest NIK may stand for the oldest: the oldest,
    its lookup hash copied from another row, reads with no key, but the right keys read
    the newest and are recorded (rotation then reports the altered row)."""
    first = registry.register_member(a_member(coop_id=coop.id))
    second = registry.register_member(a_member(coop_id=coop.id, member_no="B-1", nik=OTHER_NIK))
    m = tables.member.c
    with ledger.engine.begin() as conn:
        copied = select(m.nik_lookup).where(m.id == second.id).scalar_subquery()
        conn.execute(update(tables.member).where(m.id == first.id).values(nik_lookup=copied))
        conn.execute(tables.nik_key.delete())
    registry_with(ledger, NikVault.development()).check_nik_keys()
    assert recorded(ledger.engine) == NikVault.development().fingerprints()


@pytest.mark.postgres
def test_two_processes_recording_one_key_id_at_once_agree_on_the_first(pg_url: str) -> None:
    """Another process records its own bytes for a new key id between our look at the
    table and our insert: our insert leaves its row, and we are refused."""
    engine = make_engine(pg_url)
    try:
        ours = Registry(
            engine, NikVault.development().with_current_key("k2", NEW_KEY), seal_key=TEST_SEAL_KEY
        )
        theirs = Registry(
            engine,
            NikVault.development().with_current_key("k2", MISTYPED_KEY),
            seal_key=TEST_SEAL_KEY,
        )

        def reads_the_fingerprints(statement: str) -> bool:
            return "FROM interchange_nik_key" in statement

        with (
            racing(engine, reads_the_fingerprints, theirs.check_nik_keys) as raced,
            pytest.raises(NikVaultError) as caught,
        ):
            ours.check_nik_keys()
        assert len(raced) == 1, "their check ran, and recorded k2, between our two looks"
        assert caught.value.code is NikVaultErrorCode.NIK_KEY_MISMATCH
        assert recorded(engine)["k2"] == theirs.check_nik_keys().fingerprints()["k2"]
    finally:
        engine.dispose()


def nik_rows(engine: Engine) -> dict[int, tuple[str, str]]:
    m = tables.member.c
    with engine.connect() as conn:
        rows = conn.execute(select(m.id, m.nik_key_id, m.nik_ciphertext)).all()
    return {row.id: (row.nik_key_id, row.nik_ciphertext) for row in rows}


def test_rotation_passes_over_unreadable_niks_and_rotates_every_other(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """One member's NIK names a key the vault no longer has, another's token was copied
    from a third member's row: rotation, one member a batch so that each bad row starts a
    batch, rotates the other four and reports the two; run again it reports them again."""
    members: list[Member] = [
        registry.register_member(
            a_member(coop_id=coop.id, member_no=f"A-{n}", nik=f"32012345678901{n:02d}")
        )
        for n in range(6)
    ]
    gone, copied, source = members[1], members[3], members[4]
    m = tables.member.c
    with ledger.engine.begin() as conn:
        conn.execute(update(tables.member).where(m.id == gone.id).values(nik_key_id="gone"))
        token = conn.execute(select(m.nik_ciphertext).where(m.id == source.id)).scalar_one()
        conn.execute(update(tables.member).where(m.id == copied.id).values(nik_ciphertext=token))
    before = nik_rows(ledger.engine)
    rotating = registry_with(ledger, NikVault.development().with_current_key("k2", NEW_KEY))
    done = rotating.rotate_nik_keys(batch_size=1)
    assert done == NikRotation(rotated=4, unreadable=(gone.id, copied.id))
    after = nik_rows(ledger.engine)
    for member in members:
        if member in (gone, copied):
            assert after[member.id] == before[member.id]
        else:
            assert after[member.id][0] == "k2"
            seen = rotating.member(member.id, viewer_coop_id=coop.id, include_nik=True)
            assert isinstance(seen, Member)
            assert rotating.find_member_by_nik(coop.id, seen.nik or "") == member
    assert rotating.rotate_nik_keys() == NikRotation(rotated=0, unreadable=(gone.id, copied.id))
