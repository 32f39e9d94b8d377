"""Review of the ledger's tamper evidence and integrity check: ways of tampering, each of
which the audit once missed (or crashed on) and now reports.

Promise (issue 2, README, ledger/digest.py, ledger/audit.py): entries are sealed into a
keyed hash chain; `kopnet audit verify` recomputes it and reports any entry, posting or
balance altered, deleted or inserted behind the ledger's back (exit 0 intact, 1 tampered);
the database itself refuses UPDATE and DELETE of history. Tampering goes through
`raw.tampering` (guard triggers out of the way) unless the test shows the guards themselves
hold. Removing the newest entries can only be shown against an anchor kept outside the
database (`ChainAnchor`, from an earlier report).

Ledger used by most tests (amounts in rupiah):
  fund    cash -> ani   100   ani #1 = 100
  pay     ani  -> budi   40   ani #2 =  60, budi #1 = 40
  top-up  cash -> citra  10   citra #1 = 10
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.cli import app
from ledger.account import Account
from ledger.audit import ChainAnchor
from ledger.db import make_engine
from ledger.service import Ledger
from ledger.tables import account, chain, entry, posting
from tests.builders import idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import RawLeg, insert_entry, tampering


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    a = open_wallets(ledger, "ani", "budi", "citra")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
    ledger.post(transfer("top-up", a["cash"], a["citra"], idr(10)))
    assert ledger.seal() == 3
    report = ledger.verify()
    assert report.intact, report.findings
    return {name: ledger.account(acc.id) for name, acc in a.items()}


def _rechain(conn: Connection) -> None:
    """Recompute every chain link from the stored digests without the key (plain SHA-256,
    as links were before migration 0006)."""
    rows = conn.execute(
        select(chain.c.entry_seq, chain.c.sealed_at).order_by(chain.c.position)
    ).all()
    digests = dict(conn.execute(select(entry.c.seq, entry.c.digest)).all())
    conn.execute(delete(chain))
    previous = "0" * 64
    for position, row in enumerate(rows, start=1):
        link = bytes.fromhex(previous) + bytes.fromhex(digests[row.entry_seq])
        previous = hashlib.sha256(link).hexdigest()
        conn.execute(
            insert(chain).values(
                position=position,
                entry_seq=row.entry_seq,
                chain_hash=previous,
                sealed_at=row.sealed_at,
            )
        )


def _erase_entry(conn: Connection, seq: int) -> None:
    """Delete an entry with its postings and chain link, and give its accounts back the
    balances and counts they had before it."""
    legs = conn.execute(select(posting).where(posting.c.entry_seq == seq)).all()
    conn.execute(delete(chain).where(chain.c.entry_seq == seq))
    conn.execute(delete(posting).where(posting.c.entry_seq == seq))
    conn.execute(delete(entry).where(entry.c.seq == seq))
    for leg in legs:
        conn.execute(
            update(account)
            .where(account.c.id == leg.account_id)
            .values(
                posted_minor=account.c.posted_minor - leg.amount_minor,
                posting_count=account.c.posting_count - 1,
            )
        )


def test_a_sealed_entry_deleted_from_the_middle_of_the_chain_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Whoever deletes a sealed entry cannot compute the later links again without the
    key: links recomputed unkeyed around the gap are found (they were not, before 0006)."""
    with tampering(db_url) as conn:
        _erase_entry(conn, ledger.entry("pay").seq)
        _rechain(conn)
    assert ledger.account(wallets["budi"].id).posted == idr(0)
    report = ledger.verify()
    assert report.sealed_entries == 2
    assert not report.intact, "a sealed Rp40 payment vanished and the audit says intact"


def _anchor(ledger: Ledger) -> ChainAnchor:
    """What an operator keeps outside the database from a report: the chain's head."""
    report = ledger.verify()
    return ChainAnchor(report.chain_length, report.chain_head_hash)


def test_the_newest_sealed_entry_deleted_with_its_chain_link_is_found_against_an_anchor(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Tail truncation: deleting the last sealed entry, its link and its balance effect
    leaves a chain consistent in itself; the anchor kept from the last report shows it."""
    anchor = _anchor(ledger)
    with tampering(db_url) as conn:
        _erase_entry(conn, ledger.entry("top-up").seq)
    assert ledger.verify().intact, "without an anchor the database cannot show its own tail"
    report = ledger.verify(anchor=anchor)
    assert report.sealed_entries == 2
    assert [f.code for f in report.findings] == ["chain_anchor_missing"]


def test_emptying_the_seal_chain_is_found_against_an_anchor(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Deleting every row of `ledger_chain` turns three sealed entries back into unsealed
    ones; the anchor kept from the last report shows it."""
    anchor = _anchor(ledger)
    with tampering(db_url) as conn:
        conn.execute(delete(chain))
    report = ledger.verify(anchor=anchor)
    assert report.unsealed_entries == 3
    assert [f.code for f in report.findings] == ["chain_anchor_missing"]


def test_an_anchor_whose_link_differs_is_found(ledger: Ledger, wallets: dict[str, Account]) -> None:
    """An anchor names a position and its link: the same position with another link (the
    chain was sealed again in another order, or the anchor is from another ledger) is found."""
    anchor = _anchor(ledger)
    assert ledger.verify(anchor=anchor).intact
    forged = ChainAnchor(anchor.position, "0" * 64)
    assert [f.code for f in ledger.verify(anchor=forged).findings] == ["chain_anchor_mismatch"]


def test_relabelling_accounts_to_another_currency_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """An account's currency is compared with the currency its postings recorded: Rp100
    relabelled USD100 behind the ledger's back is found."""
    ids = [wallets["cash"].id, wallets["ani"].id, wallets["budi"].id, wallets["citra"].id]
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id.in_(ids)).values(currency="USD"))
    assert ledger.account(wallets["budi"].id).posted.currency == "USD"
    assert not ledger.verify().intact


def test_moving_an_account_to_another_cooperative_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """An account's cooperative is compared with the `coop_id` its postings recorded: a
    wallet handed to cooperative 2 behind the ledger's back is found."""
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == wallets["budi"].id).values(coop_id=2))
    assert not ledger.verify().intact


@pytest.mark.parametrize("digest", ["", "ab", "zz" * 32])
def test_a_malformed_stored_digest_is_reported_not_a_crash(
    ledger: Ledger, wallets: dict[str, Account], db_url: str, digest: str
) -> None:
    """A stored digest of any shape is linked and reported (`entry_digest_mismatch`); the
    audit once raised on one that was not 64 hex digits."""
    seq = ledger.entry("pay").seq
    with tampering(db_url) as conn:
        conn.execute(update(entry).where(entry.c.seq == seq).values(digest=digest))
    report = ledger.verify()
    assert "entry_digest_mismatch" in {f.code for f in report.findings}


def test_an_entry_inserted_with_a_malformed_digest_does_not_stop_sealing_or_the_audit(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    """The guard triggers let a balanced raw INSERT through; its 1-character digest is
    sealed like any other (sealing once raised on it for good) and the audit reports it."""
    cash, citra = wallets["cash"], wallets["citra"]
    legs = [
        RawLeg(cash.id, -500, cash.posting_count + 1, cash.posted_minor - 500),
        RawLeg(citra.id, 500, citra.posting_count + 1, citra.posted_minor + 500),
    ]
    with ledger.engine.begin() as conn:  # no trigger is bypassed
        insert_entry(conn, legs, entry_id="forged", digest="x")
        for leg in legs:
            conn.execute(
                update(account)
                .where(account.c.id == leg.account_id)
                .values(posted_minor=leg.balance_after_minor, posting_count=leg.account_posting_no)
            )
    ledger.post(transfer("later", wallets["ani"], wallets["budi"], idr(1)))
    sealed = ledger.seal()
    report = ledger.verify()
    assert (sealed, report.unsealed_entries) == (2, 0)
    assert {f.code for f in report.findings} == {"entry_digest_mismatch"}


def test_audit_verify_reports_a_malformed_digest_with_exit_1_and_its_findings(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """`kopnet audit verify --json` on a ledger whose entry digest was overwritten exits 1
    with its findings (it once died on an assertion, with no report)."""
    seq = ledger.entry("pay").seq
    with tampering(db_url) as conn:
        conn.execute(update(entry).where(entry.c.seq == seq).values(digest="x"))
    result = CliRunner().invoke(
        app,
        ["audit", "verify", "--json", "--database-url", db_url],
        env={"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()},
    )
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    findings = json.loads(result.output)["findings"]
    assert "entry_digest_mismatch" in {f["code"] for f in findings}


def _audit(db_url: str, *options: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        app,
        ["audit", "verify", "--json", "--database-url", db_url, *options],
        env={"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()},
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, json.loads(result.output)


def test_audit_verify_prints_an_anchor_and_finds_the_tail_removed_against_it(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The report's `anchor` (chain length and head), given back with `--anchor` after
    the newest entry was removed with its link, makes `audit verify` exit 1."""
    status, report = _audit(db_url)
    assert (status, report["anchor"]) == (0, f"3:{report['chain_head_hash']}")
    assert _audit(db_url, "--anchor", str(report["anchor"]))[0] == 0
    with tampering(db_url) as conn:
        _erase_entry(conn, ledger.entry("top-up").seq)
    status, after = _audit(db_url, "--anchor", str(report["anchor"]), "--no-seal-first")
    assert status == 1
    assert [f["code"] for f in after["findings"]] == ["chain_anchor_missing"]


@pytest.mark.parametrize(
    "anchor", ["3", "x:" + "0" * 64, "3:" + "0" * 63, "9" * 30 + ":" + "0" * 64]
)
def test_audit_verify_refuses_a_malformed_anchor(db_url: str, anchor: str) -> None:
    """An anchor is POSITION:HASH; anything else is `anchor_invalid`, exit 2."""
    status, refusal = _audit(db_url, "--anchor", anchor)
    assert (status, refusal["error"]) == (2, "anchor_invalid")


def test_sqlite_insert_or_replace_from_any_connection_cannot_rewrite_recorded_history(
    sqlite_url: str,
) -> None:
    """The rows `INSERT OR REPLACE` deletes fire DELETE triggers only under
    `recursive_triggers`, which only kopnet's own connections set: migration 0006's
    BEFORE INSERT triggers refuse a taken key from any connection (the `sqlite3` shell)."""
    engine = make_engine(sqlite_url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
    try:
        a = open_wallets(ledger, "ani", "budi")
        ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
        assert ledger.seal() == 1
    finally:
        ledger.close()
        engine.dispose()
    rewrites = {
        "entry": "INSERT OR REPLACE INTO ledger_entry (seq, entry_id, kind, business_date,"
        " committed_at, digest, metadata_json) SELECT seq, entry_id, kind, business_date,"
        ' committed_at, digest, \'{"note":"forged"}\' FROM ledger_entry',
        "chain": "INSERT OR REPLACE INTO ledger_chain (position, entry_seq, chain_hash,"
        " sealed_at) SELECT position, entry_seq, 'ff', sealed_at FROM ledger_chain",
    }
    accepted = []
    plain = sqlite3.connect(make_url(sqlite_url).database or "")
    try:
        for name, sql in rewrites.items():
            try:
                with plain:
                    plain.execute(sql)
                accepted.append(name)
            except sqlite3.DatabaseError:
                pass
    finally:
        plain.close()
    assert accepted == [], f"rewrote recorded {accepted} through the guard triggers"


def test_a_posting_time_rewritten_in_another_text_form_on_sqlite_is_found(
    sqlite_url: str,
) -> None:
    """SQLite keeps `committed_at` as text that statements and `balance_as_of` compare as
    text: the same instant rewritten as '...T16:54' for '... 16:54' hides a payment from
    balances read later that day; the audit finds the time not in the form written."""
    engine = make_engine(sqlite_url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
    try:
        a = open_wallets(ledger, "ani", "budi")
        ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
        pay = ledger.post(transfer("pay", a["ani"], a["budi"], idr(40)))
        assert ledger.seal() == 2
        a_second_later = pay.committed_at + timedelta(seconds=1)
        assert ledger.balance_as_of(a["budi"].id, a_second_later) == idr(40)
        with tampering(sqlite_url) as conn:
            conn.execute(
                text(
                    "UPDATE ledger_posting SET committed_at = replace(committed_at, ' ', 'T')"
                    " WHERE entry_seq = :seq"
                ),
                {"seq": pay.seq},
            )
        assert ledger.entry("pay").postings == pay.postings
        assert ledger.balance_as_of(a["budi"].id, a_second_later) == idr(0)
        assert not ledger.verify().intact, "budi's Rp40 hidden from balances; audit intact"
    finally:
        ledger.close()
        engine.dispose()
