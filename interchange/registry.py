"""The registry's shell: registering cooperatives, members and merchants, and their wallets.

Every registration is idempotent by its natural key (a coop's `code`, a member's
(coop_id, member_no), a merchant's (coop_id, merchant_no)): replaying the same spec
returns what was registered, a different spec is `*_exists_with_different_spec`. A
registration is one transaction: it opens the ledger accounts (`open_account_in`,
idempotent by ref) and inserts the row that points at them, or, refused or interrupted,
leaves nothing behind. It takes the lock of what it joins first (the network operator
for a coop, the coop for a member or merchant, the member for an extra wallet), so that
nothing closes meanwhile.

The network operator registers first: every other coop row also points at the network's
fee and due accounts for that coop's payments, opened (owned by the network) with the
coop's own accounts. A coop registered before the network is `network_not_registered`.

A coop row needs its account ids and the accounts need the coop id, so the id is reserved
first: PostgreSQL draws it from the table's sequence; SQLite takes one above every coop id
in use (its writers take turns: `BEGIN IMMEDIATE`). Accounts that a crashed registration
left before registrations were one transaction carry the id it reserved, and a retry
takes the id from them.

Member registrations of one coop are serialised by locking the coop row, so a NIK is held
by at most one member of a coop that is not closed; NIKs are stored encrypted, with a
lookup hash (`interchange.member_store`). Before its first NIK is written, read, looked up
or rotated, the registry checks its vault's keys against the fingerprints the database
recorded (`nik_key_mismatch`), once per registry. A member's or merchant's wallets follow its
status in the same transaction, under its lock (`interchange.wallet_status`): `closed`
is final and needs empty wallets. Suspending a coop does not touch its ledger accounts
(settlement still moves money for a suspended coop); it stops new members, merchants and
wallets joining it. Closing a coop closes its accounts, which must be empty, and needs its
obligations settled (`interchange.coop_closing`): settlement says which are, through the
`unsettled` check the composition root passes in. The registry holds the ledger's sealing
key (`seal_key`, passed in by the composition root): every account it opens or whose status
it changes has its terms digest written in the same transaction.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    Connection,
    Engine,
)
from sqlalchemy.exc import IntegrityError

from interchange import tables
from interchange.coop_closing import UnsettledObligations, any_obligation
from interchange.member_store import (
    NikRotation,
    check_vault_keys,
    insert_member,
    load_member_row,
    load_wallets,
    member_query,
    open_wallet,
    replay_member,
    reveal_nik,
    rotate_batch,
    row_to_member,
    set_member_status,
)
from interchange.merchant_store import (
    insert_merchant,
    load_merchant,
    replay_merchant,
    set_merchant_status,
)
from interchange.nik import NikVault
from interchange.registry_errors import RegistryError, RegistryErrorCode
from interchange.registry_model import (
    Coop,
    CoopSpec,
    MaskedMember,
    Member,
    MemberSpec,
    MemberWallet,
    Merchant,
    MerchantSpec,
    ParticipantStatus,
    mask_name,
    tier_limits,
)
from interchange.registry_refs import (
    MAIN_WALLET_LABEL,
    coop_account_ref,
    member_wallet_ref,
    merchant_wallet_ref,
    network_share_ref,
)
from interchange.registry_store import (
    CoopAccountIds,
    insert_coop,
    load_coop,
    lost_race,
    replay_coop,
    require_active,
    require_network,
    reserve_coop_id,
    set_coop_status,
)
from interchange.registry_validation import (
    parse_status,
    validate_coop_spec,
    validate_member_spec,
    validate_merchant_spec,
    validate_nik,
    validate_wallet_label,
)
from ledger.account import AccountKind, AccountSpec
from ledger.db import run_transaction
from ledger.errors import LedgerError
from ledger.service import open_account_in
from ledger.store import is_row_id

__all__ = ["ROTATION_BATCH_SIZE_MAX", "NikRotation", "Registry"]

T = TypeVar("T")

ROTATION_BATCH_SIZE_MAX = 10_000
# Registering the network operator twice at once can lose a race for its accounts or its
# row (other coops wait for the operator's lock instead); a fresh attempt then replays the
# winner's result.
_ATTEMPTS_MAX = 3
_Status = ParticipantStatus | str
# The longest stored key text: a network merchant id has at most 20 characters, a coop
# code 16.
_KEY_TEXT_CHARS_MAX = 20


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Registry:
    """Cooperatives, members and merchants over one database and its ledger."""

    def __init__(
        self,
        engine: Engine,
        vault: NikVault,
        *,
        seal_key: bytes,
        clock: Callable[[], datetime] = _utc_now,
        unsettled: UnsettledObligations = any_obligation,
    ) -> None:
        assert seal_key, "a sealing key is required: the ledger seals the accounts it opens"
        self._engine = engine
        self._seal_key = seal_key
        self._vault = vault
        self._vault_checked = False
        self._vault_lock = threading.Lock()
        self._clock = clock
        self._unsettled = unsettled

    def _run(self, work: Callable[[Connection], T]) -> T:
        return run_transaction(self._engine, work)

    def _now(self) -> datetime:
        now = self._clock()
        assert now.tzinfo is not None, "the clock must give UTC-aware datetimes"
        return now

    def check_nik_keys(self) -> NikVault:
        """Check the vault's keys against the fingerprints the database recorded, recording
        those of keys it has not seen, once per registry; return the vault. A key id or
        lookup key that stands for another key there is `nik_key_mismatch` (checked again
        at the next use). Every NIK use runs it first."""
        if self._vault_checked:
            return self._vault
        with self._vault_lock:
            if not self._vault_checked:
                now = self._now()
                self._run(lambda conn: check_vault_keys(conn, self._vault, now))
                self._vault_checked = True
        return self._vault

    # Cooperatives

    def register_coop(self, spec: CoopSpec) -> Coop:
        """Register a cooperative and open its cash, fee and due accounts; idempotent by code.

        The network operator registers first: each other cooperative also gets the
        network's fee and due accounts for its payments, and joins only an active one.
        Order: the spec's own checks, `network_not_registered` (before it, no coop can
        clash), `replay_coop`'s conflicts, then `coop_not_active`.
        """
        spec = validate_coop_spec(spec)
        for attempt in range(1, _ATTEMPTS_MAX + 1):
            try:
                return self._register_coop_once(spec)
            except (IntegrityError, LedgerError) as error:
                if attempt == _ATTEMPTS_MAX or not lost_race(error):
                    raise
        raise AssertionError("unreachable: the loop returns or raises")

    def _register_coop_once(self, spec: CoopSpec) -> Coop:
        now = self._now()
        return self._run(lambda conn: _register_coop_in(conn, spec, now, self._seal_key))

    def set_coop_status(self, coop_id: int, status: _Status) -> Coop:
        """Set a coop active, suspended or closed; closed is final, and only for a coop
        whose members and merchants are all closed (`coop_not_empty`), whose own accounts
        are empty and whose obligations are settled (`coop_has_open_position`)."""
        new = parse_status(status)
        _require_row_id(coop_id, RegistryErrorCode.COOP_NOT_FOUND)
        self._run(lambda conn: set_coop_status(conn, coop_id, new, self._unsettled, self._seal_key))
        return self.coop(coop_id)

    def coop(self, coop_id: int) -> Coop:
        """Return the coop with this id; raise `coop_not_found`."""
        _require_row_id(coop_id, RegistryErrorCode.COOP_NOT_FOUND)
        return self._run(lambda conn: load_coop(conn, tables.coop.c.id == coop_id))

    def coop_by_code(self, code: str) -> Coop:
        """Return the coop with this code; raise `coop_not_found`."""
        _require_key_text(code, RegistryErrorCode.COOP_NOT_FOUND, "no coop has this code")
        return self._run(lambda conn: load_coop(conn, tables.coop.c.code == code))

    def network_coop(self) -> Coop:
        """Return the network operator's participant; raise `coop_not_found` if none."""
        return self._run(lambda conn: load_coop(conn, tables.coop.c.is_network.is_(True)))

    # Members

    def register_member(self, spec: MemberSpec) -> Member:
        """Register a member with an encrypted NIK and a main wallet; idempotent by number."""
        _require_row_id(spec.coop_id, RegistryErrorCode.COOP_NOT_FOUND)
        spec = validate_member_spec(spec)
        vault = self.check_nik_keys()
        lookup = vault.lookup_hash(spec.nik)
        now = self._now()

        def register(conn: Connection) -> Member:
            coop, existing = replay_member(conn, spec, lookup)
            if existing is not None:
                return existing
            limit = tier_limits(spec.kyc_tier).balance_max_minor
            ref = member_wallet_ref(spec.coop_id, spec.member_no, None, MAIN_WALLET_LABEL)
            kind = AccountKind.MEMBER_WALLET
            opened = AccountSpec(ref, coop.id, coop.currency, kind, 0, limit)
            wallet = open_account_in(conn, opened, seal_key=self._seal_key)
            sealed = vault.encrypt(spec.nik)
            return insert_member(conn, spec, lookup, sealed, wallet.id, now)

        return self._run(register)

    def open_member_wallet(self, member_id: int, label: str) -> MemberWallet:
        """Open (or return) the member's wallet under `label`, with the tier's limits; the
        member must be active (`member_not_active`, under its lock), and so must its coop
        (`coop_not_active`)."""
        label = validate_wallet_label(label)
        _require_row_id(member_id, RegistryErrorCode.MEMBER_NOT_FOUND)
        return self._run(lambda conn: open_wallet(conn, member_id, label, self._seal_key))

    def member_wallets(self, member_id: int) -> tuple[MemberWallet, ...]:
        """Return the member's wallets, main first; raise `member_not_found`."""
        _require_row_id(member_id, RegistryErrorCode.MEMBER_NOT_FOUND)
        return self._run(lambda conn: load_wallets(conn, member_id))

    def set_member_status(self, member_id: int, status: _Status) -> Member:
        """Set a member's status and freeze, unfreeze or close their wallets to match."""
        new = parse_status(status)
        _require_row_id(member_id, RegistryErrorCode.MEMBER_NOT_FOUND)
        return self._run(lambda conn: set_member_status(conn, member_id, new, self._seal_key))

    def member(
        self, member_id: int, *, viewer_coop_id: int, include_nik: bool = False
    ) -> Member | MaskedMember:
        """Return the member: in full to its own coop (with the NIK if asked), else masked."""
        _require_row_id(member_id, RegistryErrorCode.MEMBER_NOT_FOUND)
        row = self._run(lambda conn: load_member_row(conn, member_id))
        if row.coop_id != viewer_coop_id:
            return MaskedMember(id=row.id, coop_id=row.coop_id, masked_name=mask_name(row.name))
        if not include_nik:
            return row_to_member(row)
        vault = self.check_nik_keys()
        nik = reveal_nik(vault, row.nik_key_id, row.nik_ciphertext, row.nik_lookup)
        return row_to_member(row, nik)

    def find_member_by_nik(self, coop_id: int, nik: str) -> Member | None:
        """Return the coop's member with this NIK (one not closed first), or None.

        A lookup by NIK is the member's own coop's (its teller at the counter): `coop_id`
        is the asking coop, and the answer is in full. Another coop finds a member only
        through routing (`member`, masked)."""
        nik = validate_nik(nik)
        if not is_row_id(coop_id):
            return None
        lookup = self.check_nik_keys().lookup_hash(nik)
        closed = tables.member.c.status == ParticipantStatus.CLOSED.value
        query = (
            member_query()
            .where(tables.member.c.coop_id == coop_id, tables.member.c.nik_lookup == lookup)
            .order_by(closed, tables.member.c.id.desc())
            .limit(1)
        )
        row = self._run(lambda conn: conn.execute(query).first())
        return None if row is None else row_to_member(row)

    def rotate_nik_keys(self, batch_size: int = 500) -> NikRotation:
        """Re-encrypt every NIK not under the current key, a batch per transaction, members
        in id order; return how many, and the members whose NIK does not read (an unknown
        key id, a bad token), passed over and left as they were. A batch size that is not
        an integer in 1..`ROTATION_BATCH_SIZE_MAX` is `batch_size_invalid`, raised before
        anything is read; a vault whose keys the database knows otherwise is
        `nik_key_mismatch`, before anything is rotated."""
        if type(batch_size) is not int or not 1 <= batch_size <= ROTATION_BATCH_SIZE_MAX:
            message = f"the batch size must be an integer in 1..{ROTATION_BATCH_SIZE_MAX}"
            raise RegistryError(RegistryErrorCode.BATCH_SIZE_INVALID, message, field="batch_size")
        vault = self.check_nik_keys()
        total, after = NikRotation(), 0
        while True:
            work = functools.partial(rotate_batch, vault=vault, after_id=after, limit=batch_size)
            done, last_id = self._run(work)
            total += done
            if last_id is None:
                return total
            after = last_id

    # Merchants

    def register_merchant(self, spec: MerchantSpec) -> Merchant:
        """Register a merchant with its wallet; idempotent by (coop_id, merchant_no)."""
        _require_row_id(spec.coop_id, RegistryErrorCode.COOP_NOT_FOUND)
        spec = validate_merchant_spec(spec)
        now = self._now()

        def register(conn: Connection) -> Merchant:
            coop, existing = replay_merchant(conn, spec)
            if existing is not None:
                return existing
            ref = merchant_wallet_ref(spec.coop_id, spec.merchant_no)
            kind = AccountKind.MERCHANT_WALLET
            opened = AccountSpec(ref, coop.id, coop.currency, kind, 0, None)
            wallet = open_account_in(conn, opened, seal_key=self._seal_key)
            return insert_merchant(conn, spec, wallet.id, now)

        return self._run(register)

    def set_merchant_status(self, merchant_id: int, status: _Status) -> Merchant:
        """Set a merchant's status and freeze, unfreeze or close its wallet to match, in
        one transaction under the merchant's lock."""
        new = parse_status(status)
        _require_row_id(merchant_id, RegistryErrorCode.MERCHANT_NOT_FOUND)
        return self._run(lambda conn: set_merchant_status(conn, merchant_id, new, self._seal_key))

    def merchant(self, merchant_id: int) -> Merchant:
        """Return the merchant with this id; raise `merchant_not_found`."""
        _require_row_id(merchant_id, RegistryErrorCode.MERCHANT_NOT_FOUND)
        return self._run(lambda conn: load_merchant(conn, tables.merchant.c.id == merchant_id))

    def merchant_by_network_id(self, network_merchant_id: str) -> Merchant:
        """Return the merchant a QR code names; raise `merchant_not_found`."""
        _require_key_text(
            network_merchant_id, RegistryErrorCode.MERCHANT_NOT_FOUND, "no merchant has this id"
        )
        where = tables.merchant.c.network_merchant_id == network_merchant_id
        return self._run(lambda conn: load_merchant(conn, where))


def _register_coop_in(conn: Connection, spec: CoopSpec, now: datetime, seal_key: bytes) -> Coop:
    """Register the coop with its accounts in the caller's transaction: the row and every
    account it points at, or nothing. A coop other than the network operator joins it
    only while it is active, under its lock, so that it cannot close meanwhile."""
    network = None if spec.is_network else require_network(conn, lock=True)
    existing = replay_coop(conn, spec)
    if existing is not None:
        return existing
    if network is not None:
        require_active(network)
    coop_id = reserve_coop_id(conn, spec.code)
    # The due account's positive balance is what the coop owes the network. Its accounts
    # have no upper limit: the net debit cap bounds the payments that take its due balance
    # up (each names it as a ceiling, `routing_checks.entry_for`), not the booking of a
    # settlement payment the bank has made, which must go through whatever the balance is.
    own = (
        (coop_account_ref(spec.code, "cash"), coop_id, AccountKind.COOP_CASH),
        (coop_account_ref(spec.code, "fee"), coop_id, AccountKind.FEE_INCOME),
        (coop_account_ref(spec.code, "due"), coop_id, AccountKind.SETTLEMENT),
    )
    # The network's fee and due accounts for this coop's payments, owned by the network.
    shares = (
        ()
        if network is None
        else (
            (network_share_ref(spec.code, "fee"), network.id, AccountKind.FEE_INCOME),
            (network_share_ref(spec.code, "due"), network.id, AccountKind.SETTLEMENT),
        )
    )
    opened = [
        open_account_in(
            conn, AccountSpec(ref, owner, spec.currency, kind, None), seal_key=seal_key
        ).id
        for ref, owner, kind in (*own, *shares)
    ]
    cash, fee, due = opened[:3]
    network_fee, network_due = opened[3:] or (fee, due)
    accounts = CoopAccountIds(cash, fee, due, network_fee, network_due)
    return insert_coop(conn, spec, coop_id, accounts, now)


def _require_row_id(value: object, not_found: RegistryErrorCode) -> None:
    """Refuse, as not found, an id no row can have (ids are positive 64-bit integers):
    the database would fail on it instead of finding nothing."""
    if not is_row_id(value):
        raise RegistryError(not_found, f"no row with id {value!r}")


def _require_key_text(value: object, not_found: RegistryErrorCode, message: str) -> None:
    """Refuse, as not found, a code or id that is not printable ASCII of at most
    `_KEY_TEXT_CHARS_MAX` characters, as every stored one is: the database may not even be
    able to encode it (a NUL, a lone surrogate), and need not look up a long one."""
    if (
        not isinstance(value, str)
        or len(value) > _KEY_TEXT_CHARS_MAX
        or not (value.isascii() and value.isprintable())
    ):
        raise RegistryError(not_found, message)
