"""The audit of a sealed ledger, on both engines: what `Ledger.verify()` and `kopnet audit
verify` find when sealed history is changed behind the ledger's back, and what an anchor
kept outside the database adds.

Entries are sealed into a keyed hash chain (ledger/digest.py, ledger/audit.py); the audit
recomputes it and reports any entry, posting, link or account altered, deleted or inserted
(`kopnet audit verify` exits 0 intact, 1 tampered, 2 on bad input). Whoever deletes a sealed
entry cannot compute the later links again without the key. Removing the newest entries
leaves a chain consistent in itself, so it can only be shown against an anchor (chain
length and head, `ChainAnchor`) kept from an earlier report. A stored digest of any shape
is reported, never a crash. Tampering goes through `raw.tampering` (guard triggers out of
the way) unless the test shows the guards themselves hold; `test_tamper_evidence.py` covers
alterations of postings and balances on a ledger of its own.

Ledger used by most tests (amounts in rupiah):
  fund    cash -> ani   100   ani #1 = 100
  pay     ani  -> budi   40   ani #2 =  60, budi #1 = 40
  top-up  cash -> citra  10   citra #1 = 10
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import Connection, delete, insert, select, update
from typer.testing import CliRunner

from api.cli import app
from ledger.account import Account
from ledger.audit import ChainAnchor
from ledger.service import Ledger
from ledger.tables import account, chain, entry, posting
from tests.builders import audited_three_wallets, idr, open_wallets, transfer
from tests.cli import audit_verify_json
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import RawLeg, insert_entry, tampering


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    return audited_three_wallets(ledger)


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
    key: links recomputed unkeyed around the gap are found."""
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


def test_the_anchor_of_an_empty_chain_is_held_by_every_later_chain(ledger: Ledger) -> None:
    """The first report of a new network prints anchor `0:000...0`; given back later to
    an intact ledger it must not be reported as `chain_anchor_missing` (tampered)."""
    first = ledger.verify()
    anchor = ChainAnchor(first.chain_length, first.chain_head_hash)
    assert (anchor.position, first.intact) == (0, True)
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    assert ledger.seal() == 1
    assert ledger.verify().intact
    report = ledger.verify(anchor=anchor)
    assert report.intact, report.findings


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
    """A stored digest of any shape is linked and reported (`entry_digest_mismatch`), even
    one that is not 64 hex digits, rather than raising."""
    seq = ledger.entry("pay").seq
    with tampering(db_url) as conn:
        conn.execute(update(entry).where(entry.c.seq == seq).values(digest=digest))
    report = ledger.verify()
    assert "entry_digest_mismatch" in {f.code for f in report.findings}


def test_an_entry_inserted_with_a_malformed_digest_does_not_stop_sealing_or_the_audit(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    """The guard triggers let a balanced raw INSERT through; its 1-character digest is
    sealed like any other (it does not stop sealing for good) and the audit reports it."""
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
    with its findings, not an assertion failure with no report."""
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


def test_audit_verify_prints_an_anchor_and_finds_the_tail_removed_against_it(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The report's `anchor` (chain length and head), given back with `--anchor` after
    the newest entry was removed with its link, makes `audit verify` exit 1."""
    status, report = audit_verify_json(db_url)
    assert (status, report["anchor"]) == (0, f"3:{report['chain_head_hash']}")
    assert audit_verify_json(db_url, "--anchor", str(report["anchor"]))[0] == 0
    with tampering(db_url) as conn:
        _erase_entry(conn, ledger.entry("top-up").seq)
    status, after = audit_verify_json(db_url, "--anchor", str(report["anchor"]), "--no-seal-first")
    assert status == 1
    assert [f["code"] for f in after["findings"]] == ["chain_anchor_missing"]


@pytest.mark.parametrize(
    "anchor", ["3", "x:" + "0" * 64, "3:" + "0" * 63, "9" * 30 + ":" + "0" * 64]
)
def test_audit_verify_refuses_a_malformed_anchor(db_url: str, anchor: str) -> None:
    """An anchor is POSITION:HASH; anything else is `anchor_invalid`, exit 2."""
    status, refusal = audit_verify_json(db_url, "--anchor", anchor)
    assert (status, refusal["error"]) == (2, "anchor_invalid")
