"""The registry's shell: registering cooperatives, members and merchants, and their wallets.

Every registration is idempotent by its natural key (a coop's `code`, a member's
(coop_id, member_no), a merchant's (coop_id, merchant_no)): replaying the same spec
returns what was registered, a different spec is `*_exists_with_different_spec`. Ledger
accounts are opened first through `Ledger.open_account`, itself idempotent by ref, and
the row that points at them is inserted after, in its own unit of work that checks the
natural key again. A crash in between leaves only an empty account, which the retry reuses.

A coop row needs its account ids and the accounts need the coop id, so the id is reserved
first: PostgreSQL draws it from the table's sequence; SQLite (the single-process engine)
takes one above every coop id in use, under a process-wide lock. An account left by a
crashed attempt already carries the reserved id, and a retry takes the id from it.

Member registrations of one coop are serialised by locking the coop row, so a NIK is held
by at most one member of a coop that is not closed. NIKs are stored encrypted with a
lookup hash (`interchange.nik`); a decrypted NIK is checked against its hash, so a
ciphertext copied from another row is detected. Statuses: `suspended` freezes the
member's or merchant's wallets, `active` unfreezes them, `closed` is final and needs
empty wallets. A coop's own status does not touch its ledger accounts (settlement still
moves money for a suspended coop); it stops new members and merchants joining it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Select,
    Table,
    and_,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from interchange import tables
from interchange.criteria import MerchantCriteria
from interchange.nik import NikVault, NikVaultError, NikVaultErrorCode
from interchange.registry_model import (
    MAIN_WALLET_LABEL,
    Coop,
    CoopSpec,
    KycTier,
    MaskedMember,
    Member,
    MemberSpec,
    MemberWallet,
    Merchant,
    MerchantSpec,
    ParticipantStatus,
    RegistryError,
    RegistryErrorCode,
    coop_account_ref,
    mask_name,
    member_wallet_ref,
    merchant_wallet_ref,
    network_merchant_id,
    parse_status,
    tier_limits,
    validate_coop_spec,
    validate_member_spec,
    validate_merchant_spec,
    validate_nik,
    validate_wallet_label,
)
from ledger.account import Account, AccountKind, AccountSpec, AccountStatus
from ledger.db import run_transaction
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.service import Ledger
from ledger.tables import account as ledger_account

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["ROTATION_BATCH_SIZE_MAX", "Registry"]

T = TypeVar("T")
V = TypeVar("V", bound="DataclassInstance")

ROTATION_BATCH_SIZE_MAX = 10_000
# Registering the same coop twice at once can lose a race for its accounts or its row;
# a fresh attempt then replays the winner's result.
_ATTEMPTS_MAX = 3
_ID_DRAWS_MAX = 1000
_COOP_ID_LOCK = threading.Lock()
_LEDGER_STATUS = {
    ParticipantStatus.ACTIVE: AccountStatus.ACTIVE,
    ParticipantStatus.SUSPENDED: AccountStatus.FROZEN,
    ParticipantStatus.CLOSED: AccountStatus.CLOSED,
}
_Status = ParticipantStatus | str


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Registry:
    """Cooperatives, members and merchants over one database and its ledger."""

    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        vault: NikVault,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._vault = vault
        self._clock = clock

    def _run(self, work: Callable[[Connection], T]) -> T:
        return run_transaction(self._engine, work)

    def _now(self) -> datetime:
        now = self._clock()
        assert now.tzinfo is not None, "the clock must give UTC-aware datetimes"
        return now

    # Cooperatives

    def register_coop(self, spec: CoopSpec) -> Coop:
        """Register a cooperative and open its cash, fee and due accounts; idempotent by code."""
        spec = validate_coop_spec(spec)
        for attempt in range(1, _ATTEMPTS_MAX + 1):
            try:
                return self._register_coop_once(spec)
            except (IntegrityError, LedgerError) as error:
                if attempt == _ATTEMPTS_MAX or not _lost_race(error):
                    raise
        raise AssertionError("unreachable: the loop returns or raises")

    def _register_coop_once(self, spec: CoopSpec) -> Coop:
        existing = self._run(lambda conn: _replay_coop(conn, spec))
        if existing is not None:
            return existing
        with _COOP_ID_LOCK:
            coop_id = self._run(lambda conn: _reserve_coop_id(conn, spec.code))
            account_ids = self._open_coop_accounts(spec, coop_id)
            now = self._now()
            return self._run(lambda conn: _insert_coop(conn, spec, coop_id, account_ids, now))

    def _open_coop_accounts(self, spec: CoopSpec, coop_id: int) -> tuple[int, int, int]:
        # The due account's positive balance is what the coop owes the network: the cap
        # is its upper limit. Cash and fee accounts are unlimited.
        plan = (
            ("cash", AccountKind.COOP_CASH, None),
            ("fee", AccountKind.FEE_INCOME, None),
            ("due", AccountKind.SETTLEMENT, spec.net_debit_cap_minor),
        )
        cash, fee, due = (
            self._ledger.open_account(
                AccountSpec(
                    coop_account_ref(spec.code, purpose),
                    coop_id,
                    spec.currency,
                    kind,
                    None,
                    max_minor,
                )
            ).id
            for purpose, kind, max_minor in plan
        )
        return cash, fee, due

    def set_coop_status(self, coop_id: int, status: _Status) -> Coop:
        """Set a coop active, suspended or closed; closed is final."""
        new = parse_status(status)
        current = self.coop(coop_id)
        _check_transition(current.status, new)
        self._run(lambda conn: _set_row_status(conn, tables.coop, coop_id, new))
        return self.coop(coop_id)

    def coop(self, coop_id: int) -> Coop:
        """Return the coop with this id; raise `coop_not_found`."""
        return self._run(lambda conn: _load_coop(conn, tables.coop.c.id == coop_id))

    def coop_by_code(self, code: str) -> Coop:
        """Return the coop with this code; raise `coop_not_found`."""
        return self._run(lambda conn: _load_coop(conn, tables.coop.c.code == code))

    def network_coop(self) -> Coop:
        """Return the network operator's participant; raise `coop_not_found` if none."""
        return self._run(lambda conn: _load_coop(conn, tables.coop.c.is_network.is_(True)))

    # Members

    def register_member(self, spec: MemberSpec) -> Member:
        """Register a member with an encrypted NIK and a main wallet; idempotent by number."""
        spec = validate_member_spec(spec)
        lookup = self._vault.lookup_hash(spec.nik)
        coop, existing = self._run(lambda conn: _replay_member(conn, spec, lookup))
        if existing is not None:
            return existing
        limit = tier_limits(spec.kyc_tier).balance_max_minor
        ref = member_wallet_ref(spec.coop_id, spec.member_no, None, MAIN_WALLET_LABEL)
        wallet = self._ledger.open_account(
            AccountSpec(ref, spec.coop_id, coop.currency, AccountKind.MEMBER_WALLET, 0, limit)
        )
        sealed = self._vault.encrypt(spec.nik)
        now = self._now()
        return self._run(lambda conn: _insert_member(conn, spec, lookup, sealed, wallet.id, now))

    def open_member_wallet(self, member_id: int, label: str) -> MemberWallet:
        """Open (or return) the member's wallet under `label`, with the tier's limits."""
        label = validate_wallet_label(label)
        member, existing = self._run(lambda conn: _find_wallet(conn, member_id, label))
        if existing is not None:
            return existing
        if member.status is not ParticipantStatus.ACTIVE:
            raise RegistryError(RegistryErrorCode.MEMBER_NOT_ACTIVE, "the member is not active")
        coop = self.coop(member.coop_id)
        ref = member_wallet_ref(member.coop_id, member.member_no, member.id, label)
        limit = tier_limits(member.kyc_tier).balance_max_minor
        account = self._ledger.open_account(
            AccountSpec(ref, member.coop_id, coop.currency, AccountKind.MEMBER_WALLET, 0, limit)
        )
        return self._run(lambda conn: _insert_wallet(conn, member, label, account.id))

    def member_wallets(self, member_id: int) -> tuple[MemberWallet, ...]:
        """Return the member's wallets, main first; raise `member_not_found`."""
        return self._run(lambda conn: _load_wallets(conn, member_id))

    def set_member_status(self, member_id: int, status: _Status) -> Member:
        """Set a member's status and freeze, unfreeze or close their wallets to match."""
        new = parse_status(status)
        current = self._run(lambda conn: _load_member_row(conn, member_id))
        wallets = self.member_wallets(member_id)
        account_ids = [wallet.account_id for wallet in wallets]
        if self._apply_wallet_status(ParticipantStatus(current.status), new, account_ids):
            self._run(lambda conn: _set_row_status(conn, tables.member, member_id, new))
        return self._run(lambda conn: _row_to_member(_load_member_row(conn, member_id)))

    def member(
        self, member_id: int, *, viewer_coop_id: int, include_nik: bool = False
    ) -> Member | MaskedMember:
        """Return the member: in full to its own coop (with the NIK if asked), else masked."""
        row = self._run(lambda conn: _load_member_row(conn, member_id))
        if row.coop_id != viewer_coop_id:
            return MaskedMember(id=row.id, coop_id=row.coop_id, masked_name=mask_name(row.name))
        if not include_nik:
            return _row_to_member(row)
        nik = _reveal_nik(self._vault, row.nik_key_id, row.nik_ciphertext, row.nik_lookup)
        return _row_to_member(row, nik)

    def find_member_by_nik(self, coop_id: int, nik: str) -> Member | None:
        """Return the coop's member with this NIK (one not closed first), or None."""
        lookup = self._vault.lookup_hash(validate_nik(nik))
        closed = tables.member.c.status == ParticipantStatus.CLOSED.value
        query = (
            _member_query()
            .where(tables.member.c.coop_id == coop_id, tables.member.c.nik_lookup == lookup)
            .order_by(closed, tables.member.c.id.desc())
            .limit(1)
        )
        row = self._run(lambda conn: conn.execute(query).first())
        return None if row is None else _row_to_member(row)

    def rotate_nik_keys(self, batch_size: int = 500) -> int:
        """Re-encrypt every NIK not under the current key, a batch per transaction."""
        assert 1 <= batch_size <= ROTATION_BATCH_SIZE_MAX
        total = 0
        while True:
            done = self._run(lambda conn: _rotate_batch(conn, self._vault, batch_size))
            total += done
            if done < batch_size:
                return total

    # Merchants

    def register_merchant(self, spec: MerchantSpec) -> Merchant:
        """Register a merchant with its wallet; idempotent by (coop_id, merchant_no)."""
        spec = validate_merchant_spec(spec)
        coop, existing = self._run(lambda conn: _replay_merchant(conn, spec))
        if existing is not None:
            return existing
        ref = merchant_wallet_ref(spec.coop_id, spec.merchant_no)
        wallet = self._ledger.open_account(
            AccountSpec(ref, spec.coop_id, coop.currency, AccountKind.MERCHANT_WALLET, 0, None)
        )
        now = self._now()
        return self._run(lambda conn: _insert_merchant(conn, spec, wallet.id, now))

    def set_merchant_status(self, merchant_id: int, status: _Status) -> Merchant:
        """Set a merchant's status and freeze, unfreeze or close its wallet to match."""
        new = parse_status(status)
        current = self.merchant(merchant_id)
        if self._apply_wallet_status(current.status, new, [current.wallet_account_id]):
            self._run(lambda conn: _set_row_status(conn, tables.merchant, merchant_id, new))
        return self.merchant(merchant_id)

    def merchant(self, merchant_id: int) -> Merchant:
        """Return the merchant with this id; raise `merchant_not_found`."""
        return self._run(lambda conn: _load_merchant(conn, tables.merchant.c.id == merchant_id))

    def merchant_by_network_id(self, network_merchant_id: str) -> Merchant:
        """Return the merchant a QR code names; raise `merchant_not_found`."""
        where = tables.merchant.c.network_merchant_id == network_merchant_id
        return self._run(lambda conn: _load_merchant(conn, where))

    # Wallet statuses

    def _apply_wallet_status(
        self, current: ParticipantStatus, new: ParticipantStatus, account_ids: Sequence[int]
    ) -> bool:
        """Bring the wallets to `new`; return False when there is nothing left to change."""
        _check_transition(current, new)
        if current is ParticipantStatus.CLOSED:
            return False
        if new is ParticipantStatus.CLOSED:
            self._close_wallets(account_ids, _LEDGER_STATUS[current])
            return True
        # Applied even when the status is unchanged, so a repeat heals a half-done change.
        for account_id in account_ids:
            self._ledger.set_account_status(account_id, _LEDGER_STATUS[new])
        return True

    def _close_wallets(self, account_ids: Sequence[int], restore: AccountStatus) -> None:
        # Freeze first so no money arrives between the check and the close.
        for account_id in account_ids:
            self._ledger.set_account_status(account_id, AccountStatus.FROZEN)
        if not all(_is_empty(self._ledger.account(i)) for i in account_ids):
            for account_id in account_ids:
                self._ledger.set_account_status(account_id, restore)
            raise RegistryError(
                RegistryErrorCode.WALLET_NOT_EMPTY,
                "pay out every wallet and settle its holds before closing",
            )
        for account_id in account_ids:
            self._ledger.set_account_status(account_id, AccountStatus.CLOSED)


def _lost_race(error: IntegrityError | LedgerError) -> bool:
    if isinstance(error, IntegrityError):
        return True
    return error.code is LedgerErrorCode.ACCOUNT_EXISTS_WITH_DIFFERENT_SPEC


def _is_empty(account: Account) -> bool:
    held = account.pending_debit_minor or account.pending_credit_minor
    return account.posted_minor == 0 and not held


def _check_transition(current: ParticipantStatus, new: ParticipantStatus) -> None:
    if current is ParticipantStatus.CLOSED and new is not ParticipantStatus.CLOSED:
        raise _fail(RegistryErrorCode.STATUS_TRANSITION_INVALID, "closed is final", "status")


def _fail(code: RegistryErrorCode, message: str, field: str | None = None) -> RegistryError:
    return RegistryError(code, message, field=field)


def _set_row_status(conn: Connection, table: Table, row_id: int, new: ParticipantStatus) -> None:
    conn.execute(update(table).where(table.c.id == row_id).values(status=new.value))


# Rows and views: view fields are named after their columns.


def _view(cls: type[V], row: Row[Any], **overrides: object) -> V:
    mapping = row._mapping
    values = {f.name: mapping[f.name] for f in fields(cls) if f.name not in overrides}
    return cls(**values, **overrides)


def _columns(spec: CoopSpec | MerchantSpec) -> dict[str, object]:
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in asdict(spec).items()}


def _row_to_coop(row: Row[Any]) -> Coop:
    status = ParticipantStatus(row.status)
    return _view(Coop, row, status=status, is_network=bool(row.is_network))


def _row_to_member(row: Row[Any], nik: str | None = None) -> Member:
    status, tier = ParticipantStatus(row.status), KycTier(row.kyc_tier)
    return _view(Member, row, status=status, kyc_tier=tier, nik=nik)


def _row_to_merchant(row: Row[Any]) -> Merchant:
    status, criteria = ParticipantStatus(row.status), MerchantCriteria(row.criteria)
    return _view(Merchant, row, status=status, criteria=criteria)


def _row_to_wallet(row: Row[Any]) -> MemberWallet:
    return _view(MemberWallet, row)


# Coops


def _load_coop(conn: Connection, where: ColumnElement[bool], *, lock: bool = False) -> Coop:
    query = select(tables.coop).where(where)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise _fail(RegistryErrorCode.COOP_NOT_FOUND, "no such coop", "coop_id")
    return _row_to_coop(row)


def _replay_coop(conn: Connection, spec: CoopSpec) -> Coop | None:
    """Return the coop registered with this code and spec, or None; raise a conflict.

    Order: `coop_exists_with_different_spec`, `coop_registration_no_taken`,
    `network_coop_exists`.
    """
    c = tables.coop.c
    row = conn.execute(select(tables.coop).where(c.code == spec.code)).first()
    if row is not None:
        existing = _row_to_coop(row)
        if existing.spec != spec:
            code = RegistryErrorCode.COOP_EXISTS_WITH_DIFFERENT_SPEC
            raise _fail(code, f"coop {spec.code!r} exists with a different spec", "code")
        return existing
    if _exists(conn, select(c.id).where(c.registration_no == spec.registration_no)):
        code = RegistryErrorCode.COOP_REGISTRATION_NO_TAKEN
        raise _fail(code, "another coop has this registration number", "registration_no")
    if spec.is_network and _exists(conn, select(c.id).where(c.is_network.is_(True))):
        code = RegistryErrorCode.NETWORK_COOP_EXISTS
        raise _fail(code, "the network operator is registered already", "is_network")
    return None


def _exists(conn: Connection, query: Select[Any]) -> bool:
    return conn.execute(query.limit(1)).first() is not None


def _reserve_coop_id(conn: Connection, code: str) -> int:
    """The id the coop will have: the one a crashed attempt reserved, else a fresh one."""
    cash_ref = coop_account_ref(code, "cash")
    reserved = conn.execute(
        select(ledger_account.c.coop_id).where(ledger_account.c.ref == cash_ref)
    ).scalar_one_or_none()
    if reserved is not None:
        return int(reserved)
    if conn.dialect.name == "postgresql":
        return _draw_coop_id(conn)
    # SQLite: above every coop id in use, rows and accounts of unfinished attempts alike.
    top_row = conn.execute(select(func.max(tables.coop.c.id))).scalar() or 0
    top_account = conn.execute(select(func.max(ledger_account.c.coop_id))).scalar() or 0
    return max(int(top_row), int(top_account)) + 1


def _draw_coop_id(conn: Connection) -> int:
    # Each draw is unique across sessions; skipping ids that rows took explicitly (a retry
    # after a crash inserts the id it reserved) keeps the draw free of races.
    sequence = func.pg_get_serial_sequence(tables.coop.name, "id")
    for _ in range(_ID_DRAWS_MAX):
        drawn = int(conn.execute(select(func.nextval(sequence))).scalar_one())
        if not _exists(conn, select(tables.coop.c.id).where(tables.coop.c.id == drawn)):
            return drawn
    raise AssertionError("the coop id sequence is far behind the table's ids")


def _insert_coop(
    conn: Connection, spec: CoopSpec, coop_id: int, accounts: tuple[int, int, int], now: datetime
) -> Coop:
    existing = _replay_coop(conn, spec)
    if existing is not None:
        return existing
    cash, fee, due = accounts
    values = _columns(spec) | {
        "id": coop_id,
        "status": ParticipantStatus.ACTIVE.value,
        "cash_account_id": cash,
        "fee_account_id": fee,
        "due_account_id": due,
        "created_at": now,
    }
    return _row_to_coop(
        conn.execute(insert(tables.coop).values(values).returning(tables.coop)).one()
    )


def _require_active(coop: Coop) -> None:
    if coop.status is not ParticipantStatus.ACTIVE:
        raise _fail(RegistryErrorCode.COOP_NOT_ACTIVE, f"coop {coop.code} is not active", "coop_id")


# Members


def _member_query() -> Select[Any]:
    m, w = tables.member, tables.member_wallet
    on = and_(w.c.member_id == m.c.id, w.c.label == MAIN_WALLET_LABEL)
    return select(m, w.c.account_id.label("wallet_account_id")).join(w, on)


def _load_member_row(conn: Connection, member_id: int) -> Row[Any]:
    row = conn.execute(_member_query().where(tables.member.c.id == member_id)).first()
    if row is None:
        raise _fail(RegistryErrorCode.MEMBER_NOT_FOUND, f"no member {member_id}", "member_id")
    return row


def _reveal_nik(vault: NikVault, key_id: str, token: str, lookup: str) -> str:
    nik = vault.decrypt(key_id, token)
    if vault.lookup_hash(nik) != lookup:
        code = NikVaultErrorCode.NIK_TOKEN_INVALID
        raise NikVaultError(code, "the NIK does not belong to this row", field="token")
    return nik


def _replay_member(conn: Connection, spec: MemberSpec, lookup: str) -> tuple[Coop, Member | None]:
    """Return the coop, and the member already registered with this spec or None.

    Order: `coop_not_found`; a replay or `member_exists_with_different_spec`;
    `coop_not_active`; `nik_already_registered`.
    """
    m = tables.member.c
    coop = _load_coop(conn, tables.coop.c.id == spec.coop_id, lock=True)
    where = and_(m.coop_id == spec.coop_id, m.member_no == spec.member_no)
    row = conn.execute(_member_query().where(where)).first()
    if row is not None:
        given = (spec.name, spec.phone, spec.kyc_tier.value, lookup)
        if (row.name, row.phone, row.kyc_tier, row.nik_lookup) != given:
            code = RegistryErrorCode.MEMBER_EXISTS_WITH_DIFFERENT_SPEC
            raise _fail(code, f"member {spec.member_no!r} exists differently", "member_no")
        return coop, _row_to_member(row)
    _require_active(coop)
    open_ = m.status != ParticipantStatus.CLOSED.value
    if _exists(conn, select(m.id).where(m.coop_id == spec.coop_id, m.nik_lookup == lookup, open_)):
        code = RegistryErrorCode.NIK_ALREADY_REGISTERED
        raise _fail(code, "another member of this coop has this NIK", "nik")
    return coop, None


def _insert_member(
    conn: Connection,
    spec: MemberSpec,
    lookup: str,
    sealed: tuple[str, str],
    wallet_account_id: int,
    now: datetime,
) -> Member:
    _coop, existing = _replay_member(conn, spec, lookup)
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
    return _row_to_member(_load_member_row(conn, member_id))


def _rotate_batch(conn: Connection, vault: NikVault, batch_size: int) -> int:
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
        nik = _reveal_nik(vault, row.nik_key_id, row.nik_ciphertext, row.nik_lookup)
        key_id, token = vault.encrypt(nik)
        change = update(tables.member).where(m.id == row.id)
        conn.execute(change.values(nik_key_id=key_id, nik_ciphertext=token))
    return len(rows)


# Wallets


def _find_wallet(
    conn: Connection, member_id: int, label: str
) -> tuple[Member, MemberWallet | None]:
    member = _row_to_member(_load_member_row(conn, member_id))
    w = tables.member_wallet.c
    query = select(tables.member_wallet).where(w.member_id == member_id, w.label == label)
    row = conn.execute(query).first()
    return member, None if row is None else _row_to_wallet(row)


def _insert_wallet(conn: Connection, member: Member, label: str, account_id: int) -> MemberWallet:
    _member, existing = _find_wallet(conn, member.id, label)
    if existing is not None:
        return existing
    wallet = MemberWallet(account_id, member.id, member.coop_id, label)
    conn.execute(insert(tables.member_wallet).values(asdict(wallet)))
    return wallet


def _load_wallets(conn: Connection, member_id: int) -> tuple[MemberWallet, ...]:
    _load_member_row(conn, member_id)
    w = tables.member_wallet.c
    query = select(tables.member_wallet).where(w.member_id == member_id)
    rows = conn.execute(query.order_by(w.label != MAIN_WALLET_LABEL, w.label)).all()
    return tuple(_row_to_wallet(row) for row in rows)


# Merchants


def _load_merchant(conn: Connection, where: ColumnElement[bool]) -> Merchant:
    row = conn.execute(select(tables.merchant).where(where)).first()
    if row is None:
        raise _fail(RegistryErrorCode.MERCHANT_NOT_FOUND, "no such merchant", "merchant_id")
    return _row_to_merchant(row)


def _replay_merchant(conn: Connection, spec: MerchantSpec) -> tuple[Coop, Merchant | None]:
    """Return the coop, and the merchant already registered with this spec or None.

    Order: `coop_not_found`; a replay or `merchant_exists_with_different_spec`;
    `coop_not_active`.
    """
    c = tables.merchant.c
    coop = _load_coop(conn, tables.coop.c.id == spec.coop_id, lock=True)
    where = and_(c.coop_id == spec.coop_id, c.merchant_no == spec.merchant_no)
    row = conn.execute(select(tables.merchant).where(where)).first()
    if row is not None:
        existing = _row_to_merchant(row)
        if existing.spec != spec:
            code = RegistryErrorCode.MERCHANT_EXISTS_WITH_DIFFERENT_SPEC
            raise _fail(code, f"merchant {spec.merchant_no!r} exists differently", "merchant_no")
        return coop, existing
    _require_active(coop)
    return coop, None


def _insert_merchant(
    conn: Connection, spec: MerchantSpec, wallet_account_id: int, now: datetime
) -> Merchant:
    _coop, existing = _replay_merchant(conn, spec)
    if existing is not None:
        return existing
    values = _columns(spec) | {
        "network_merchant_id": network_merchant_id(spec.coop_id, spec.merchant_no),
        "status": ParticipantStatus.ACTIVE.value,
        "wallet_account_id": wallet_account_id,
        "created_at": now,
    }
    query = insert(tables.merchant).values(values).returning(tables.merchant)
    return _row_to_merchant(conn.execute(query).one())
