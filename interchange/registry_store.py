"""Rows of the registry: loading, inserting and replaying cooperatives, members, merchants.

The shell behind `interchange.registry`: every function takes a connection inside the
caller's transaction and never commits. Natural keys make registration idempotent; the
checks and the lock order are described in `interchange.registry`.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from interchange import tables
from interchange.coop_closing import UnsettledObligations, close_books
from interchange.criteria import MerchantCriteria
from interchange.nik import NikVault, NikVaultError, NikVaultErrorCode
from interchange.registry_model import (
    MAIN_WALLET_LABEL,
    Coop,
    CoopSpec,
    KycTier,
    Member,
    MemberSpec,
    MemberWallet,
    Merchant,
    MerchantSpec,
    ParticipantStatus,
    RegistryError,
    RegistryErrorCode,
    coop_account_ref,
    network_merchant_id,
)
from ledger.account import AccountStatus
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.tables import account as ledger_account

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


__all__ = [
    "COOP_ID_LOCK",
    "ID_DRAWS_MAX",
    "LEDGER_STATUS",
    "CoopAccountIds",
    "check_transition",
    "columns",
    "draw_coop_id",
    "exists",
    "fail",
    "find_wallet",
    "insert_coop",
    "insert_member",
    "insert_merchant",
    "insert_wallet",
    "load_coop",
    "load_member_row",
    "load_merchant",
    "load_wallets",
    "lost_race",
    "member_query",
    "replay_coop",
    "replay_member",
    "replay_merchant",
    "require_active",
    "require_network",
    "reserve_coop_id",
    "reveal_nik",
    "rotate_batch",
    "row_to_coop",
    "row_to_member",
    "row_to_merchant",
    "row_to_wallet",
    "set_row_status",
    "view",
]

V = TypeVar("V", bound="DataclassInstance")

ID_DRAWS_MAX = 1000
# SQLite has no sequence to draw a coop id from: registrations in one process take turns.
COOP_ID_LOCK = threading.Lock()
LEDGER_STATUS = {
    ParticipantStatus.ACTIVE: AccountStatus.ACTIVE,
    ParticipantStatus.SUSPENDED: AccountStatus.FROZEN,
    ParticipantStatus.CLOSED: AccountStatus.CLOSED,
}


def lost_race(error: IntegrityError | LedgerError) -> bool:
    """True when the error means a concurrent registration got there first."""
    if isinstance(error, IntegrityError):
        return True
    return error.code is LedgerErrorCode.ACCOUNT_EXISTS_WITH_DIFFERENT_SPEC


def check_transition(current: ParticipantStatus, new: ParticipantStatus) -> None:
    """Refuse a status change that the lifecycle does not allow."""
    if current is ParticipantStatus.CLOSED and new is not ParticipantStatus.CLOSED:
        raise fail(RegistryErrorCode.STATUS_TRANSITION_INVALID, "closed is final", "status")


def fail(code: RegistryErrorCode, message: str, field: str | None = None) -> RegistryError:
    """A registry error with its code, message and field."""
    return RegistryError(code, message, field=field)


def set_coop_status(
    conn: Connection, coop_id: int, new: ParticipantStatus, unsettled: UnsettledObligations
) -> None:
    """Store a coop's new status under its lock. Closing needs every member and merchant
    of it closed first (each close needs empty wallets), so no savings stay behind in a
    coop whose members can no longer pay or withdraw; registrations take the same lock,
    so none can slip in while it closes. The network operator closes last, after every
    other coop: their fees and settlements pass through its accounts, and a coop joining
    takes its lock (`insert_coop`). Closing then needs the coop's own books empty and
    settled, and closes them (`interchange.coop_closing`). Order:
    `status_transition_invalid`, `coop_not_empty`, `coop_has_open_position`."""
    coop = load_coop(conn, tables.coop.c.id == coop_id, lock=True)
    check_transition(coop.status, new)
    if new is ParticipantStatus.CLOSED and coop.status is not ParticipantStatus.CLOSED:
        still_open = [
            select(table.c.id).where(
                table.c.coop_id == coop_id, table.c.status != ParticipantStatus.CLOSED.value
            )
            for table in (tables.member, tables.merchant)
        ]
        if coop.is_network:
            c = tables.coop.c
            others = select(c.id).where(c.id != coop_id, c.status != ParticipantStatus.CLOSED.value)
            still_open.append(others)
        if any(exists(conn, query) for query in still_open):
            raise fail(
                RegistryErrorCode.COOP_NOT_EMPTY,
                "close every member and merchant of the coop (with empty wallets), and for"
                " the network operator every other coop, first",
                "status",
            )
        close_books(conn, coop_id, unsettled)
    set_row_status(conn, tables.coop, coop_id, new)


def set_row_status(conn: Connection, table: Table, row_id: int, new: ParticipantStatus) -> None:
    """Store a participant row's new status."""
    conn.execute(update(table).where(table.c.id == row_id).values(status=new.value))


# Rows and views: view fields are named after their columns.


def view(cls: type[V], row: Row[Any], **overrides: object) -> V:
    """Build a frozen view from a row, overriding the named fields."""
    mapping = row._mapping
    values = {f.name: mapping[f.name] for f in fields(cls) if f.name not in overrides}
    return cls(**values, **overrides)


def columns(spec: CoopSpec | MerchantSpec) -> dict[str, object]:
    """The row values of a coop or merchant spec."""
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in asdict(spec).items()}


def row_to_coop(row: Row[Any]) -> Coop:
    """The `Coop` view of a coop row."""
    status = ParticipantStatus(row.status)
    return view(Coop, row, status=status, is_network=bool(row.is_network))


def row_to_member(row: Row[Any], nik: str | None = None) -> Member:
    """The `Member` view of a member row (with the NIK only when given)."""
    status, tier = ParticipantStatus(row.status), KycTier(row.kyc_tier)
    return view(Member, row, status=status, kyc_tier=tier, nik=nik)


def row_to_merchant(row: Row[Any]) -> Merchant:
    """The `Merchant` view of a merchant row."""
    status, criteria = ParticipantStatus(row.status), MerchantCriteria(row.criteria)
    return view(Merchant, row, status=status, criteria=criteria)


def row_to_wallet(row: Row[Any]) -> MemberWallet:
    """The `MemberWallet` view of a wallet row."""
    return view(MemberWallet, row)


# Coops


def load_coop(conn: Connection, where: ColumnElement[bool], *, lock: bool = False) -> Coop:
    """The coop matching `where` (locked if asked); `coop_not_found` otherwise."""
    query = select(tables.coop).where(where)
    # FOR NO KEY UPDATE, which a foreign key's check (KEY SHARE) does not wait for: a
    # payment's rows refer to its coops only after it has locked its ledger accounts, and
    # closing a coop locks the coop before its accounts, so FOR UPDATE would deadlock them.
    locked = query.with_for_update(key_share=True)
    row = conn.execute(locked if lock else query).first()
    if row is None:
        raise fail(RegistryErrorCode.COOP_NOT_FOUND, "no such coop", "coop_id")
    return row_to_coop(row)


def replay_coop(conn: Connection, spec: CoopSpec) -> Coop | None:
    """Return the coop registered with this code and spec, or None; raise a conflict.

    Order: `coop_exists_with_different_spec`, `coop_registration_no_taken`,
    `network_coop_exists`.
    """
    c = tables.coop.c
    # One query, so one snapshot: a concurrent attempt that commits this very coop between
    # two lookups would otherwise make the retry refuse its own registration number.
    clashes = [c.code == spec.code, c.registration_no == spec.registration_no]
    if spec.is_network:
        clashes.append(c.is_network.is_(True))
    found = [row_to_coop(row) for row in conn.execute(select(tables.coop).where(or_(*clashes)))]
    for existing in found:
        if existing.code == spec.code:
            if existing.spec != spec:
                code = RegistryErrorCode.COOP_EXISTS_WITH_DIFFERENT_SPEC
                raise fail(code, f"coop {spec.code!r} exists with a different spec", "code")
            return existing
    if any(existing.registration_no == spec.registration_no for existing in found):
        code = RegistryErrorCode.COOP_REGISTRATION_NO_TAKEN
        raise fail(code, "another coop has this registration number", "registration_no")
    if any(existing.is_network for existing in found):
        code = RegistryErrorCode.NETWORK_COOP_EXISTS
        raise fail(code, "the network operator is registered already", "is_network")
    return None


def exists(conn: Connection, query: Select[Any]) -> bool:
    """True when the query finds a row."""
    return conn.execute(query.limit(1)).first() is not None


def reserve_coop_id(conn: Connection, code: str) -> int:
    """The id the coop will have: the one a crashed attempt reserved, else a fresh one."""
    cash_ref = coop_account_ref(code, "cash")
    reserved = conn.execute(
        select(ledger_account.c.coop_id).where(ledger_account.c.ref == cash_ref)
    ).scalar_one_or_none()
    if reserved is not None:
        return int(reserved)
    if conn.dialect.name == "postgresql":
        return draw_coop_id(conn)
    # SQLite: above every coop id in use, rows and accounts of unfinished attempts alike.
    top_row = conn.execute(select(func.max(tables.coop.c.id))).scalar() or 0
    top_account = conn.execute(select(func.max(ledger_account.c.coop_id))).scalar() or 0
    return max(int(top_row), int(top_account)) + 1


def draw_coop_id(conn: Connection) -> int:
    # Each draw is unique across sessions; skipping ids that rows took explicitly (a retry
    # after a crash inserts the id it reserved) keeps the draw free of races.
    """A coop id no row or account uses yet (SQLite: above every id in use)."""
    sequence = func.pg_get_serial_sequence(tables.coop.name, "id")
    for _ in range(ID_DRAWS_MAX):
        drawn = int(conn.execute(select(func.nextval(sequence))).scalar_one())
        if not exists(conn, select(tables.coop.c.id).where(tables.coop.c.id == drawn)):
            return drawn
    raise AssertionError("the coop id sequence is far behind the table's ids")


@dataclass(frozen=True, slots=True)
class CoopAccountIds:
    """The ledger accounts a coop row points at."""

    cash_account_id: int
    fee_account_id: int
    due_account_id: int
    network_fee_account_id: int
    network_due_account_id: int


def require_network(conn: Connection) -> Coop:
    """The network operator; `network_not_registered` while there is none."""
    try:
        return load_coop(conn, tables.coop.c.is_network.is_(True))
    except RegistryError as missing:
        code = RegistryErrorCode.NETWORK_NOT_REGISTERED
        message = "register the network operator before any cooperative"
        raise fail(code, message, "is_network") from missing


def insert_coop(
    conn: Connection, spec: CoopSpec, coop_id: int, accounts: CoopAccountIds, now: datetime
) -> Coop:
    """Insert the coop row with its account ids; a coop other than the network operator
    joins it only while it is active, under its lock, so that it cannot close meanwhile.
    Order: `replay_coop`'s, then `coop_not_active`."""
    existing = replay_coop(conn, spec)
    if existing is not None:
        return existing
    if not spec.is_network:
        require_active(load_coop(conn, tables.coop.c.is_network.is_(True), lock=True))
    values = (
        columns(spec)
        | asdict(accounts)
        | {
            "id": coop_id,
            "status": ParticipantStatus.ACTIVE.value,
            "created_at": now,
        }
    )
    return row_to_coop(
        conn.execute(insert(tables.coop).values(values).returning(tables.coop)).one()
    )


def require_active(coop: Coop) -> None:
    """Refuse joining a coop that is not active."""
    if coop.status is not ParticipantStatus.ACTIVE:
        raise fail(RegistryErrorCode.COOP_NOT_ACTIVE, f"coop {coop.code} is not active", "coop_id")


# Members


def member_query() -> Select[Any]:
    """Members joined with their main wallet."""
    m, w = tables.member, tables.member_wallet
    on = and_(w.c.member_id == m.c.id, w.c.label == MAIN_WALLET_LABEL)
    return select(m, w.c.account_id.label("wallet_account_id")).join(w, on)


def load_member_row(conn: Connection, member_id: int) -> Row[Any]:
    """The member's row; `member_not_found` otherwise."""
    row = conn.execute(member_query().where(tables.member.c.id == member_id)).first()
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
    """Insert the member row and its main wallet, after re-checking the NIK under the coop lock."""
    _coop, existing = replay_member(conn, spec, lookup)
    if existing is not None:
        return existing
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
    insert_member = insert(tables.member).values(values).returning(tables.member.c.id)
    member_id = conn.execute(insert_member).scalar_one()
    wallet = MemberWallet(wallet_account_id, member_id, spec.coop_id, MAIN_WALLET_LABEL)
    conn.execute(insert(tables.member_wallet).values(asdict(wallet)))
    return row_to_member(load_member_row(conn, member_id))


def rotate_batch(conn: Connection, vault: NikVault, batch_size: int) -> int:
    """Re-encrypt up to `batch_size` NIKs held under an old key; return how many."""
    m = tables.member.c
    query = (
        select(m.id, m.nik_key_id, m.nik_ciphertext, m.nik_lookup)
        .where(m.nik_key_id != vault.current_key_id)
        .order_by(m.id)
        .limit(batch_size)
        .with_for_update()
    )
    rows = conn.execute(query).all()
    for row in rows:
        nik = reveal_nik(vault, row.nik_key_id, row.nik_ciphertext, row.nik_lookup)
        key_id, token = vault.encrypt(nik)
        change = update(tables.member).where(m.id == row.id)
        conn.execute(change.values(nik_key_id=key_id, nik_ciphertext=token))
    return len(rows)


# Wallets


def find_wallet(conn: Connection, member_id: int, label: str) -> tuple[Member, MemberWallet | None]:
    """The member's wallet with this label, if any."""
    member = row_to_member(load_member_row(conn, member_id))
    w = tables.member_wallet.c
    query = select(tables.member_wallet).where(w.member_id == member_id, w.label == label)
    row = conn.execute(query).first()
    return member, None if row is None else row_to_wallet(row)


def insert_wallet(conn: Connection, member: Member, label: str, account_id: int) -> MemberWallet:
    """Record an extra wallet of the member."""
    _member, existing = find_wallet(conn, member.id, label)
    if existing is not None:
        return existing
    wallet = MemberWallet(account_id, member.id, member.coop_id, label)
    conn.execute(insert(tables.member_wallet).values(asdict(wallet)))
    return wallet


def load_wallets(conn: Connection, member_id: int) -> tuple[MemberWallet, ...]:
    """Every wallet of the member."""
    load_member_row(conn, member_id)
    w = tables.member_wallet.c
    query = select(tables.member_wallet).where(w.member_id == member_id)
    rows = conn.execute(query.order_by(w.label != MAIN_WALLET_LABEL, w.label)).all()
    return tuple(row_to_wallet(row) for row in rows)


# Merchants


def load_merchant(conn: Connection, where: ColumnElement[bool]) -> Merchant:
    """The merchant matching `where`; `merchant_not_found` otherwise."""
    row = conn.execute(select(tables.merchant).where(where)).first()
    if row is None:
        raise fail(RegistryErrorCode.MERCHANT_NOT_FOUND, "no such merchant", "merchant_id")
    return row_to_merchant(row)


def replay_merchant(conn: Connection, spec: MerchantSpec) -> tuple[Coop, Merchant | None]:
    """Return the coop, and the merchant already registered with this spec or None.

    Order: `coop_not_found`; a replay or `merchant_exists_with_different_spec`;
    `coop_not_active`.
    """
    c = tables.merchant.c
    coop = load_coop(conn, tables.coop.c.id == spec.coop_id, lock=True)
    where = and_(c.coop_id == spec.coop_id, c.merchant_no == spec.merchant_no)
    row = conn.execute(select(tables.merchant).where(where)).first()
    if row is not None:
        existing = row_to_merchant(row)
        if existing.spec != spec:
            code = RegistryErrorCode.MERCHANT_EXISTS_WITH_DIFFERENT_SPEC
            raise fail(code, f"merchant {spec.merchant_no!r} exists differently", "merchant_no")
        return coop, existing
    require_active(coop)
    return coop, None


def insert_merchant(
    conn: Connection, spec: MerchantSpec, wallet_account_id: int, now: datetime
) -> Merchant:
    """Insert the merchant row with its wallet account id."""
    _coop, existing = replay_merchant(conn, spec)
    if existing is not None:
        return existing
    values = columns(spec) | {
        "network_merchant_id": network_merchant_id(spec.coop_id, spec.merchant_no),
        "status": ParticipantStatus.ACTIVE.value,
        "wallet_account_id": wallet_account_id,
        "created_at": now,
    }
    query = insert(tables.merchant).values(values).returning(tables.merchant)
    return row_to_merchant(conn.execute(query).one())
