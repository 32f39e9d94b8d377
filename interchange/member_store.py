"""Rows of members and their wallets: loading, inserting and replaying them, and their NIKs.

The shell behind `interchange.registry`'s members: every function takes a connection
inside the caller's transaction and never commits. A member's natural key is (coop_id,
member_no). A registration locks the coop row before it looks for the member, so member
registrations of one coop take turns and a NIK is held by at most one member of a coop
that is not closed. NIKs are stored encrypted with a lookup hash (`interchange.nik`); a
decrypted NIK is checked against its hash, so a ciphertext copied from another row is
detected. Every member has a main wallet, recorded with the member, and may open more
under labels unique to the member.

The vault's keys are checked against the fingerprints the database recorded before it is
used (`check_vault_keys`). Rotation pages through the members by id and passes over a NIK
it cannot read, reporting the member, so that one bad row does not stop it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, insert, select, update

from interchange import tables
from interchange.nik import LOOKUP_KEY_NAME, NikVault, NikVaultError, NikVaultErrorCode
from interchange.registry_errors import RegistryErrorCode
from interchange.registry_model import (
    Coop,
    KycTier,
    Member,
    MemberSpec,
    MemberWallet,
    ParticipantStatus,
    tier_limits,
)
from interchange.registry_refs import MAIN_WALLET_LABEL, member_wallet_ref
from interchange.registry_store import (
    exists,
    fail,
    load_coop,
    require_active,
    set_row_status,
    view,
)
from interchange.wallet_status import apply_wallet_status
from ledger.account import AccountKind, AccountSpec
from ledger.db import dialect_insert
from ledger.service import open_account_in

__all__ = [
    "NikRotation",
    "check_vault_keys",
    "insert_member",
    "load_member_row",
    "load_wallets",
    "member_query",
    "open_wallet",
    "replay_member",
    "reveal_nik",
    "rotate_batch",
    "row_to_member",
    "row_to_wallet",
    "set_member_status",
]


def row_to_member(row: Row[Any], nik: str | None = None) -> Member:
    """The `Member` view of a member row (with the NIK only when given)."""
    status, tier = ParticipantStatus(row.status), KycTier(row.kyc_tier)
    return view(Member, row, status=status, kyc_tier=tier, nik=nik)


def row_to_wallet(row: Row[Any]) -> MemberWallet:
    """The `MemberWallet` view of a wallet row."""
    return view(MemberWallet, row)


# Members


def member_query() -> Select[Any]:
    """Members joined with their main wallet."""
    m, w = tables.member, tables.member_wallet
    on = and_(w.c.member_id == m.c.id, w.c.label == MAIN_WALLET_LABEL)
    return select(m, w.c.account_id.label("wallet_account_id")).join(w, on)


def load_member_row(conn: Connection, member_id: int, *, lock: bool = False) -> Row[Any]:
    """The member's row (locked if asked); `member_not_found` otherwise."""
    query = member_query().where(tables.member.c.id == member_id)
    # FOR NO KEY UPDATE: the foreign-key checks of rows that refer to the member (its
    # wallets') do not wait for it.
    locked = query.with_for_update(of=tables.member, key_share=True)
    row = conn.execute(locked if lock else query).first()
    if row is None:
        raise fail(RegistryErrorCode.MEMBER_NOT_FOUND, f"no member {member_id}", "member_id")
    return row


def reveal_nik(vault: NikVault, key_id: str, token: str, lookup: str) -> str:
    """Decrypt a NIK and check it against its lookup hash."""
    nik = vault.decrypt(key_id, token)
    if vault.lookup_hash(nik) != lookup:
        code = NikVaultErrorCode.NIK_TOKEN_INVALID
        raise NikVaultError(code, "the NIK does not belong to this row", field="token")
    return nik


def replay_member(conn: Connection, spec: MemberSpec, lookup: str) -> tuple[Coop, Member | None]:
    """Return the coop, and the member already registered with this spec or None.

    Order: `coop_not_found`; a replay or `member_exists_with_different_spec`;
    `coop_not_active`; `nik_already_registered`.
    """
    m = tables.member.c
    coop = load_coop(conn, tables.coop.c.id == spec.coop_id, lock=True)
    where = and_(m.coop_id == spec.coop_id, m.member_no == spec.member_no)
    row = conn.execute(member_query().where(where)).first()
    if row is not None:
        given = (spec.name, spec.phone, spec.kyc_tier.value, lookup)
        if (row.name, row.phone, row.kyc_tier, row.nik_lookup) != given:
            code = RegistryErrorCode.MEMBER_EXISTS_WITH_DIFFERENT_SPEC
            raise fail(code, f"member {spec.member_no!r} exists differently", "member_no")
        return coop, row_to_member(row)
    require_active(coop)
    open_ = m.status != ParticipantStatus.CLOSED.value
    if exists(conn, select(m.id).where(m.coop_id == spec.coop_id, m.nik_lookup == lookup, open_)):
        code = RegistryErrorCode.NIK_ALREADY_REGISTERED
        raise fail(code, "another member of this coop has this NIK", "nik")
    return coop, None


def insert_member(
    conn: Connection,
    spec: MemberSpec,
    lookup: str,
    sealed: tuple[str, str],
    wallet_account_id: int,
    now: datetime,
) -> Member:
    """Insert the member row and its main wallet, in the registration's transaction (which
    holds the coop's lock and has found no member with this number: `replay_member`)."""
    key_id, token = sealed
    values = {
        "coop_id": spec.coop_id,
        "member_no": spec.member_no,
        "name": spec.name,
        "phone": spec.phone,
        "nik_ciphertext": token,
        "nik_key_id": key_id,
        "nik_lookup": lookup,
        "kyc_tier": spec.kyc_tier.value,
        "status": ParticipantStatus.ACTIVE.value,
        "created_at": now,
    }
    query = insert(tables.member).values(values).returning(tables.member.c.id)
    member_id = conn.execute(query).scalar_one()
    wallet = MemberWallet(wallet_account_id, member_id, spec.coop_id, MAIN_WALLET_LABEL)
    conn.execute(insert(tables.member_wallet).values(asdict(wallet)))
    return row_to_member(load_member_row(conn, member_id))


def check_vault_keys(conn: Connection, vault: NikVault, now: datetime) -> None:
    """Record the fingerprint of each of the vault's keys that has none, then refuse
    (`nik_key_mismatch`) a key whose recorded fingerprint differs; the caller's
    transaction rolls back with the refusal, so a refused vault records nothing.

    A fingerprint another process recorded first is kept (the insert does nothing on a
    taken name) and read back with the rest, so processes starting at once agree. With
    every name recorded already, nothing is written (a read-only session can check)."""
    fingerprints = vault.fingerprints()
    recorded = _recorded_fingerprints(conn, fingerprints)
    missing = [name for name in fingerprints if name not in recorded]
    if missing:
        _require_rows_readable(conn, vault, missing)
        # In name order, as every process inserts, so that two never wait for each other.
        rows = [
            {"key_name": n, "fingerprint": fingerprints[n], "created_at": now}
            for n in sorted(missing)
        ]
        new = dialect_insert(conn, tables.nik_key).on_conflict_do_nothing(
            index_elements=["key_name"]
        )
        conn.execute(new.values(rows))
        recorded = _recorded_fingerprints(conn, fingerprints)
    assert recorded.keys() == fingerprints.keys(), "every name is recorded, by us or another"
    vault.check_fingerprints(recorded)


def _require_rows_readable(conn: Connection, vault: NikVault, names: Iterable[str]) -> None:
    """Before a fingerprint is first recorded (on a database upgraded with NIKs already
    written, the first process's keys would otherwise be taken on trust): the oldest or the
    newest NIK stored under each such key id, and for the lookup key under any of the
    vault's keys, must decrypt and match its lookup hash; otherwise `nik_key_mismatch`. One
    is enough: a wrong key reads neither, and one row altered behind the registry's back
    must not lock the right key out (rotation reports such a row)."""
    m = tables.member.c
    for name in names:
        held = m.nik_key_id.in_(vault.key_ids) if name == LOOKUP_KEY_NAME else m.nik_key_id == name
        query = select(m.nik_key_id, m.nik_ciphertext, m.nik_lookup).where(held).limit(1)
        rows = [conn.execute(query.order_by(order)).first() for order in (m.id, m.id.desc())]
        samples = [row for row in rows if row is not None]
        if samples and not any(_reads(vault, row) for row in samples):
            shown = "the lookup key" if name == LOOKUP_KEY_NAME else f"key id {name!r}"
            message = f"no NIK already stored reads with {shown} (check KOPNET_NIK_KEYS)"
            code = NikVaultErrorCode.NIK_KEY_MISMATCH
            raise NikVaultError(code, message, field="keys")


def _reads(vault: NikVault, row: Row[Any, Any, Any]) -> bool:
    """Whether the row's NIK decrypts under `vault` and matches its lookup hash."""
    try:
        reveal_nik(vault, row.nik_key_id, row.nik_ciphertext, row.nik_lookup)
    except NikVaultError:
        return False
    return True


def _recorded_fingerprints(conn: Connection, names: Iterable[str]) -> dict[str, str]:
    k = tables.nik_key.c
    query = select(k.key_name, k.fingerprint).where(k.key_name.in_(list(names)))
    return {row.key_name: row.fingerprint for row in conn.execute(query)}


@dataclass(frozen=True, slots=True)
class NikRotation:
    """How many NIKs were re-encrypted under the current key, and the members whose NIK
    could not be read (an unknown key id, a token that does not authenticate or belong
    to its row), left as they were."""

    rotated: int = 0
    unreadable: tuple[int, ...] = ()

    def __add__(self, other: NikRotation) -> NikRotation:
        return NikRotation(self.rotated + other.rotated, self.unreadable + other.unreadable)


def rotate_batch(
    conn: Connection, vault: NikVault, *, after_id: int, limit: int
) -> tuple[NikRotation, int | None]:
    """Re-encrypt under the current key the NIKs of up to `limit` members with ids above
    `after_id` held under an old key, lowest first, locking them; return what was done
    and the highest id looked at (None when no such member was left)."""
    assert limit >= 1, "a round looks at one member at least"
    m = tables.member.c
    query = (
        select(m.id, m.nik_key_id, m.nik_ciphertext, m.nik_lookup)
        .where(m.id > after_id, m.nik_key_id != vault.current_key_id)
        .order_by(m.id)
        .limit(limit)
        .with_for_update()
    )
    rows = conn.execute(query).all()
    if not rows:
        return NikRotation(), None
    unreadable = []
    for row in rows:
        try:
            nik = reveal_nik(vault, row.nik_key_id, row.nik_ciphertext, row.nik_lookup)
        except NikVaultError:
            unreadable.append(row.id)
            continue
        key_id, token = vault.encrypt(nik)
        change = update(tables.member).where(m.id == row.id)
        conn.execute(change.values(nik_key_id=key_id, nik_ciphertext=token))
    done = NikRotation(len(rows) - len(unreadable), tuple(unreadable))
    return done, rows[-1].id


# Wallets


def open_wallet(conn: Connection, member_id: int, label: str, seal_key: bytes) -> MemberWallet:
    """The member's wallet under `label`: the one recorded, else a new one, opened in the
    ledger with the tier's limits and recorded in this transaction, for an active member
    (`member_not_active`, under its lock, so that it cannot close meanwhile) of an active
    coop (`coop_not_active`: a suspended coop takes no new accounts)."""
    member = row_to_member(load_member_row(conn, member_id, lock=True))
    w = tables.member_wallet.c
    query = select(tables.member_wallet).where(w.member_id == member_id, w.label == label)
    row = conn.execute(query).first()
    if row is not None:
        return row_to_wallet(row)
    if member.status is not ParticipantStatus.ACTIVE:
        raise fail(RegistryErrorCode.MEMBER_NOT_ACTIVE, "the member is not active", "member_id")
    coop = load_coop(conn, tables.coop.c.id == member.coop_id)
    require_active(coop)
    ref = member_wallet_ref(member.coop_id, member.member_no, member.id, label)
    limit = tier_limits(member.kyc_tier).balance_max_minor
    spec = AccountSpec(ref, member.coop_id, coop.currency, AccountKind.MEMBER_WALLET, 0, limit)
    wallet = MemberWallet(
        open_account_in(conn, spec, seal_key=seal_key).id, member.id, member.coop_id, label
    )
    conn.execute(insert(tables.member_wallet).values(asdict(wallet)))
    return wallet


def set_member_status(
    conn: Connection, member_id: int, new: ParticipantStatus, seal_key: bytes
) -> Member:
    """Store the member's new status with its wallets' (`apply_wallet_status`), under the
    member's lock, so that no wallet opens meanwhile."""
    member = row_to_member(load_member_row(conn, member_id, lock=True))
    wallets = _wallets_of(conn, member_id)
    if not apply_wallet_status(conn, member.status, new, [w.account_id for w in wallets], seal_key):
        return member
    set_row_status(conn, tables.member, member_id, new)
    return replace(member, status=new)


def load_wallets(conn: Connection, member_id: int) -> tuple[MemberWallet, ...]:
    """Every wallet of the member, main first; `member_not_found` otherwise."""
    load_member_row(conn, member_id)
    return _wallets_of(conn, member_id)


def _wallets_of(conn: Connection, member_id: int) -> tuple[MemberWallet, ...]:
    w = tables.member_wallet.c
    query = select(tables.member_wallet).where(w.member_id == member_id)
    rows = conn.execute(query.order_by(w.label != MAIN_WALLET_LABEL, w.label)).all()
    return tuple(row_to_wallet(row) for row in rows)
