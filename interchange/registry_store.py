"""Rows of the registry's cooperatives, and the row helpers every participant's store shares.

The shell behind `interchange.registry`: every function takes a connection inside the
caller's transaction and never commits. Natural keys make registration idempotent; the
checks and the lock order are described in `interchange.registry`, and those of a coop's
close (its row, then its accounts) in `interchange.coop_closing`. Members and their
wallets are stored by `interchange.member_store`, merchants by `interchange.merchant_store`.
"""

from __future__ import annotations

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
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from interchange import tables
from interchange.coop_closing import UnsettledObligations, close_books
from interchange.coop_status_lock import lock_coop_status
from interchange.registry_errors import RegistryError, RegistryErrorCode
from interchange.registry_model import Coop, CoopSpec, MerchantSpec, ParticipantStatus
from interchange.registry_refs import COOP_ID_MAX, coop_account_ref
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.tables import account as ledger_account

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


__all__ = [
    "ID_DRAWS_MAX",
    "CoopAccountIds",
    "check_transition",
    "columns",
    "draw_coop_id",
    "exists",
    "fail",
    "insert_coop",
    "load_coop",
    "lost_race",
    "replay_coop",
    "require_active",
    "require_network",
    "reserve_coop_id",
    "row_to_coop",
    "set_coop_status",
    "set_row_status",
    "view",
]

V = TypeVar("V", bound="DataclassInstance")

ID_DRAWS_MAX = 1000


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
    conn: Connection,
    coop_id: int,
    new: ParticipantStatus,
    unsettled: UnsettledObligations,
    seal_key: bytes,
) -> None:
    """Store a coop's new status under its lock. Closing needs every member and merchant
    of it closed first (each close needs empty wallets), so no savings stay behind in a
    coop whose members can no longer pay or withdraw; registrations take the same lock,
    so none can slip in while it closes. The network operator closes last, after every
    other coop: their fees and settlements pass through its accounts, and a coop joining
    takes its lock (`require_network`, in the registration's transaction). Closing then
    needs the coop's own books empty and settled, and closes them
    (`interchange.coop_closing`). Order:
    `status_transition_invalid`, `coop_not_empty`, `coop_has_open_position`. The coop's
    status lock first (`interchange.coop_status_lock`): the change waits for the payments
    that read the coop's status and have not committed."""
    lock_coop_status(conn, coop_id)
    coop = load_coop(conn, tables.coop.c.id == coop_id, lock=True)
    check_transition(coop.status, new)
    if new is ParticipantStatus.CLOSED and coop.status is not ParticipantStatus.CLOSED:
        _require_nothing_open(conn, coop)
        close_books(conn, coop_id, unsettled, seal_key)
    set_row_status(conn, tables.coop, coop_id, new)


def _require_nothing_open(conn: Connection, coop: Coop) -> None:
    """`coop_not_empty` while a member or merchant of the coop, or (for the network
    operator) another coop, is not closed."""
    still_open = [
        select(table.c.id).where(
            table.c.coop_id == coop.id, table.c.status != ParticipantStatus.CLOSED.value
        )
        for table in (tables.member, tables.merchant)
    ]
    if coop.is_network:
        c = tables.coop.c
        others = select(c.id).where(c.id != coop.id, c.status != ParticipantStatus.CLOSED.value)
        still_open.append(others)
    if any(exists(conn, query) for query in still_open):
        raise fail(
            RegistryErrorCode.COOP_NOT_EMPTY,
            "close every member and merchant of the coop (with empty wallets), and for"
            " the network operator every other coop, first",
            "status",
        )


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
    """The id the coop will have: the one carried by accounts a crashed registration left
    (before registrations were one transaction each), else a fresh one;
    `coop_ids_exhausted` past `COOP_ID_MAX`, the most a network merchant id holds."""
    cash_ref = coop_account_ref(code, "cash")
    reserved = conn.execute(
        select(ledger_account.c.coop_id).where(ledger_account.c.ref == cash_ref)
    ).scalar_one_or_none()
    if reserved is not None:
        return int(reserved)
    if conn.dialect.name == "postgresql":
        fresh = draw_coop_id(conn)
    else:
        # SQLite: above every coop id in use, rows and accounts of unfinished attempts alike.
        top_row = conn.execute(select(func.max(tables.coop.c.id))).scalar() or 0
        top_account = conn.execute(select(func.max(ledger_account.c.coop_id))).scalar() or 0
        fresh = max(int(top_row), int(top_account)) + 1
    if fresh > COOP_ID_MAX:
        # Refused here, not at the coop's first merchant: its id would not fit the
        # merchant's network id.
        message = f"coop ids run out at {COOP_ID_MAX}: no more coops can register"
        raise fail(RegistryErrorCode.COOP_IDS_EXHAUSTED, message, "code")
    return fresh


def draw_coop_id(conn: Connection) -> int:
    """A coop id no row uses yet, drawn from the coop table's sequence (PostgreSQL only:
    `reserve_coop_id` finds SQLite's)."""
    # Each draw is unique across sessions; skipping ids that rows took explicitly (a retry
    # after a crash inserts the id it reserved) keeps the draw free of races.
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


def require_network(conn: Connection, *, lock: bool = False) -> Coop:
    """The network operator (locked if asked); `network_not_registered` while there is none."""
    try:
        return load_coop(conn, tables.coop.c.is_network.is_(True), lock=lock)
    except RegistryError as missing:
        code = RegistryErrorCode.NETWORK_NOT_REGISTERED
        message = "register the network operator before any cooperative"
        raise fail(code, message, "is_network") from missing


def insert_coop(
    conn: Connection, spec: CoopSpec, coop_id: int, accounts: CoopAccountIds, now: datetime
) -> Coop:
    """Insert the coop row with its account ids, in the registration's transaction (which
    has found no coop with this code and, for a coop other than the network operator,
    holds the active operator's lock)."""
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
