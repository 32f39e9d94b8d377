"""The sealing key checked against the database, on both engines, before it is used.

The database records the fingerprint of the ledger's sealing key the first time a ledger
checks it. A ledger whose key is another is refused as `seal_key_mismatch` before it
writes an entry, opens or changes an account, seals a link or audits, and writes nothing:
links sealed under a wrong key would leave every later audit with the right key reporting
the chain broken for good. On a database whose fingerprint is not recorded yet (one
upgraded to 0011), the first key must verify some of what is stored (the oldest or newest
link, entry or account) before it is recorded: a wrong key verifies none of it, and one
row altered behind the ledger's back does not lock the right key out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.engine import make_url

from ledger.account import Account, AccountKind, AccountSpec, AccountStatus
from ledger.db import make_engine
from ledger.digest import seal_key_fingerprint
from ledger.entry import EntryKind
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.service import Ledger
from ledger.tables import account, chain, entry, seal_key
from tests.builders import idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.databases import PostgresServer
from tests.integration.ledger.raw import tampering
from tests.races import racing

WRONG_KEY = b"kopnet-wrong-seal-key"


@pytest.fixture
def wrong(ledger: Ledger) -> Iterator[Ledger]:
    """A second ledger over the same database, with another sealing key."""
    service = Ledger(ledger.engine, seal_key=WRONG_KEY)
    yield service
    service.close()


def recorded(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(seal_key.c.fingerprint)).scalars())


def forget_fingerprint(engine: Engine) -> None:
    """As a database upgraded to 0011 is: data written, no fingerprint recorded."""
    with engine.begin() as conn:
        conn.execute(seal_key.delete())


def counts(engine: Engine) -> tuple[int, int, int]:
    """How many accounts, entries and chain links the database holds."""
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (account, entry, chain)
        )


def assert_mismatch(caught: pytest.ExceptionInfo[LedgerError]) -> None:
    """The refusal's code, and a message that shows neither key."""
    assert caught.value.code is LedgerErrorCode.SEAL_KEY_MISMATCH
    shown = f"{caught.value} {caught.value!r}"
    for secret in (TEST_SEAL_KEY, WRONG_KEY):
        assert secret.decode() not in shown
        assert secret.hex() not in shown


def test_the_first_use_records_the_keys_fingerprint(ledger: Ledger) -> None:
    """A new database records the key it is first used with, and nothing else."""
    assert recorded(ledger.engine) == []
    open_wallets(ledger, "ani")
    assert recorded(ledger.engine) == [seal_key_fingerprint(TEST_SEAL_KEY)]
    assert seal_key_fingerprint(TEST_SEAL_KEY) != seal_key_fingerprint(WRONG_KEY)


def _uses(wrong: Ledger, wallets: dict[str, Account]) -> dict[str, Callable[[], object]]:
    """Every use of the ledger that writes, seals or audits, with the wrong key."""
    cash, ani = wallets["cash"], wallets["ani"]
    hold = transfer("hold-1", cash, ani, idr(1), kind=EntryKind.PENDING, timeout_s=60)
    spec = AccountSpec("c1:dewi", 1, "IDR", AccountKind.MEMBER_WALLET)
    return {
        "post": lambda: wrong.post(transfer("pay-1", cash, ani, idr(5))),
        "post_linked": lambda: wrong.post_linked([transfer("pay-2", cash, ani, idr(5))]),
        "post_batch": lambda: wrong.post_batch([hold]),
        "expire_holds": wrong.expire_holds,
        "open_account": lambda: wrong.open_account(spec),
        "set_account_status": lambda: wrong.set_account_status(ani.id, AccountStatus.FROZEN),
        "seal": lambda: wrong.seal(full_scan=True),
        "seal_account_terms": wrong.seal_account_terms,
        "verify": wrong.verify,
    }


def test_a_wrong_key_is_refused_for_every_write_seal_and_audit_and_writes_nothing(
    ledger: Ledger, wrong: Ledger
) -> None:
    """An entry is waiting to be sealed: the wrong key neither posts, opens or changes an
    account, nor seals it, nor audits; the right key then seals and audits it intact."""
    wallets = open_wallets(ledger, "ani")
    ledger.post(transfer("fund", wallets["cash"], wallets["ani"], idr(100)))
    before = counts(ledger.engine)
    for name, use in _uses(wrong, wallets).items():
        with pytest.raises(LedgerError) as caught:
            use()
        assert_mismatch(caught)
        assert counts(ledger.engine) == before, name
    assert ledger.account(wallets["ani"].id).status is AccountStatus.ACTIVE
    assert recorded(ledger.engine) == [seal_key_fingerprint(TEST_SEAL_KEY)]
    assert ledger.seal() == 1
    assert ledger.verify().intact


def _sealed_chain(ledger: Ledger) -> None:
    wallets = open_wallets(ledger, "ani")
    ledger.post(transfer("fund", wallets["cash"], wallets["ani"], idr(100)))
    ledger.post(transfer("top-up", wallets["cash"], wallets["ani"], idr(5)))
    assert ledger.seal() == 2


def _unsealed_entries(ledger: Ledger) -> None:
    wallets = open_wallets(ledger, "ani")
    ledger.post(transfer("fund", wallets["cash"], wallets["ani"], idr(100)))


def _accounts_only(ledger: Ledger) -> None:
    open_wallets(ledger, "ani")


def _accounts_frozen(ledger: Ledger) -> None:
    """Accounts alone, each digest sealing a terms version other than 0."""
    for opened in open_wallets(ledger, "ani").values():
        ledger.set_account_status(opened.id, AccountStatus.FROZEN)


@pytest.mark.parametrize(
    "stored",
    [_sealed_chain, _unsealed_entries, _accounts_only, _accounts_frozen],
    ids=["sealed-chain", "unsealed-entries", "accounts-only", "accounts-frozen"],
)
def test_a_key_first_recorded_after_data_was_written_must_verify_it(
    ledger: Ledger, wrong: Ledger, stored: Callable[[Ledger], None]
) -> None:
    """Data written under one key, then the fingerprint table emptied (as after upgrading
    to 0011): another key is refused before anything is recorded, and the key the data
    was written with is accepted and recorded."""
    stored(ledger)
    forget_fingerprint(ledger.engine)
    before = counts(ledger.engine)
    with pytest.raises(LedgerError) as caught:
        wrong.seal(full_scan=True)
    assert_mismatch(caught)
    assert (counts(ledger.engine), recorded(ledger.engine)) == (before, [])
    right = Ledger(ledger.engine, seal_key=TEST_SEAL_KEY)
    try:
        assert right.verify().intact
    finally:
        right.close()
    assert recorded(ledger.engine) == [seal_key_fingerprint(TEST_SEAL_KEY)]
    with pytest.raises(LedgerError) as again:
        wrong.verify()
    assert_mismatch(again)


def test_a_row_altered_behind_the_ledger_does_not_lock_the_right_key_out_of_the_audit(
    ledger: Ledger, wrong: Ledger, db_url: str
) -> None:
    """No fingerprint recorded yet, and the newest entry's digest and the newest account's
    cap rewritten behind the ledger's back: the right key still verifies the rest, records
    itself and audits, reporting both; the wrong key verifies nothing and is refused."""
    _sealed_chain(ledger)
    open_wallets(ledger, "budi", coop_id=2)
    forget_fingerprint(ledger.engine)
    with tampering(db_url) as conn:
        newest_seq = conn.execute(select(func.max(entry.c.seq))).scalar_one()
        conn.execute(update(entry).where(entry.c.seq == newest_seq).values(digest="0" * 64))
        newest_id = conn.execute(select(func.max(account.c.id))).scalar_one()
        conn.execute(
            update(account).where(account.c.id == newest_id).values(max_balance_minor=10**12)
        )
    with pytest.raises(LedgerError) as caught:
        wrong.verify()
    assert_mismatch(caught)
    right = Ledger(ledger.engine, seal_key=TEST_SEAL_KEY)
    try:
        codes = {finding.code for finding in right.verify().findings}
    finally:
        right.close()
    assert {"entry_digest_mismatch", "account_terms_mismatch"} <= codes
    assert recorded(ledger.engine) == [seal_key_fingerprint(TEST_SEAL_KEY)]


def test_a_ledger_refused_once_is_checked_again_at_its_next_use(
    ledger: Ledger, wrong: Ledger
) -> None:
    """Only a key that passed is remembered: the refused one stays refused."""
    open_wallets(ledger, "ani")
    for _ in range(2):
        with pytest.raises(LedgerError) as caught:
            wrong.check_seal_key()
        assert_mismatch(caught)


@pytest.mark.postgres
def test_a_read_only_database_checks_the_key_without_recording_it(
    pg_server: PostgresServer, pg_url: str
) -> None:
    """Transactions read only (a replica, `default_transaction_read_only`) and no
    fingerprint recorded yet: the key that verifies the chain audits, recording nothing;
    another key is refused."""
    engine = make_engine(pg_url)
    try:
        writer = Ledger(engine, seal_key=TEST_SEAL_KEY)
        _sealed_chain(writer)
        writer.close()
        forget_fingerprint(engine)
    finally:
        engine.dispose()
    database = make_url(pg_url).database
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    engine = make_engine(pg_url)
    try:
        auditor = Ledger(engine, seal_key=TEST_SEAL_KEY)
        wrong = Ledger(engine, seal_key=WRONG_KEY)
        assert auditor.verify().intact
        with pytest.raises(LedgerError) as caught:
            wrong.verify()
        assert_mismatch(caught)
        assert recorded(engine) == []
        auditor.close()
        wrong.close()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_processes_recording_at_once_agree_on_the_first(pg_url: str) -> None:
    """On a new database another process records its own key between our look at the
    table and our insert: our insert leaves its row, and we are refused."""
    engine = make_engine(pg_url)
    ours, theirs = Ledger(engine, seal_key=TEST_SEAL_KEY), Ledger(engine, seal_key=WRONG_KEY)
    try:

        def reads_the_fingerprint(statement: str) -> bool:
            return "FROM ledger_seal_key" in statement

        with (
            racing(engine, reads_the_fingerprint, theirs.check_seal_key) as raced,
            pytest.raises(LedgerError) as caught,
        ):
            ours.check_seal_key()
        assert len(raced) == 1, "their check ran, and recorded their key, between our looks"
        assert_mismatch(caught)
        assert recorded(engine) == [seal_key_fingerprint(WRONG_KEY)]
    finally:
        ours.close()
        theirs.close()
        engine.dispose()


def test_an_entry_that_does_not_read_does_not_lock_the_right_key_out_of_the_audit(
    sqlite_url: str,
) -> None:
    """No fingerprint recorded yet, nothing sealed, and the oldest entry's commit time
    rewritten as text no time reads as: the key check passes over that sample (it used to
    raise a bare ValueError, which the command line reported as `setting_invalid`), the
    right key verifies the newest and records itself, and the audit reports the row."""
    ledger = Ledger(make_engine(sqlite_url), seal_key=TEST_SEAL_KEY)
    _unsealed_entries(ledger)
    wallets = open_wallets(ledger, "ani")
    ledger.post(transfer("top-up", wallets["cash"], wallets["ani"], idr(5)))
    forget_fingerprint(ledger.engine)
    with tampering(sqlite_url) as conn:
        oldest = conn.execute(select(func.min(entry.c.seq))).scalar_one()
        rewrite = "UPDATE ledger_entry SET committed_at = 'garbage' WHERE seq = :seq"
        conn.execute(text(rewrite), {"seq": oldest})
    right = Ledger(ledger.engine, seal_key=TEST_SEAL_KEY)
    try:
        found = {(f.code, f.subject) for f in right.verify().findings}
        assert ("timestamp_unreadable", f"entry fund (seq {oldest})") in found, found
        assert recorded(ledger.engine) == [seal_key_fingerprint(TEST_SEAL_KEY)]
    finally:
        right.close()
        ledger.close()
        ledger.engine.dispose()
