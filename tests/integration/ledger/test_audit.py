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
from ledger.audit import AuditReport, ChainAnchor
from ledger.service import Ledger
from ledger.tables import account, chain, entry, posting
from tests.builders import audited_three_wallets, idr, open_wallets, post_sealed, transfer
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


def _set_link(conn: Connection, position: int, link: str) -> None:
    conn.execute(update(chain).where(chain.c.position == position).values(chain_hash=link))


def _pairs(report: AuditReport) -> list[tuple[str, str]]:
    return [(f.code, f.subject) for f in report.findings]


def test_an_altered_link_is_reported_once_and_the_links_after_it_still_hold(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The next link is checked against the one the audit computes for position 1, not
    against the altered one: it holds, and so does the head."""
    head = ledger.verify().chain_head_hash
    with tampering(db_url) as conn:
        _set_link(conn, 1, "0" * 64)
    report = ledger.verify()
    assert _pairs(report) == [("chain_hash_mismatch", "chain position 1")]
    assert report.chain_head_hash == head


def test_two_altered_links_in_a_row_are_each_reported_and_the_head_still_holds(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    head = ledger.verify().chain_head_hash
    with tampering(db_url) as conn:
        _set_link(conn, 1, "0" * 64)
        _set_link(conn, 2, "1" * 64)
    report = ledger.verify()
    assert _pairs(report) == [
        ("chain_hash_mismatch", "chain position 1"),
        ("chain_hash_mismatch", "chain position 2"),
    ]
    assert report.chain_head_hash == head


def test_a_link_removed_from_the_middle_is_reported_at_the_next_link_only(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Position 2 follows a link no longer stored; position 3 still follows position 2's
    stored link, which the audit checks it against too."""
    head = ledger.verify().chain_head_hash
    with tampering(db_url) as conn:
        conn.execute(delete(chain).where(chain.c.position == 1))
    report = ledger.verify()
    assert _pairs(report) == [
        ("chain_gap", "chain position 2"),
        ("chain_hash_mismatch", "chain position 2"),
    ]
    assert (report.unsealed_entries, report.chain_head_hash) == (1, head)


def test_an_altered_head_link_is_reported_and_gives_no_anchor(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The report's head is where an anchor is kept from: one that does not hold is "?"."""
    with tampering(db_url) as conn:
        _set_link(conn, 3, "0" * 64)
    report = ledger.verify()
    assert _pairs(report) == [("chain_hash_mismatch", "chain position 3")]
    assert (report.chain_length, report.chain_head_hash) == (3, "?")


def test_a_digest_altered_after_sealing_is_reported_and_its_link_still_holds(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The link was computed over the digest the entry's values still give: the altered
    stored digest is the entry's finding, not the chain's."""
    head, seq = ledger.verify().chain_head_hash, ledger.entry("pay").seq
    with tampering(db_url) as conn:
        conn.execute(update(entry).where(entry.c.seq == seq).values(digest="ab"))
    report = ledger.verify()
    assert _pairs(report) == [("entry_digest_mismatch", f"entry pay (seq {seq})")]
    assert report.chain_head_hash == head


@pytest.mark.parametrize(
    "anchor", ["3", "x:" + "0" * 64, "3:" + "0" * 63, "9" * 30 + ":" + "0" * 64]
)
def test_audit_verify_refuses_a_malformed_anchor(db_url: str, anchor: str) -> None:
    """An anchor is POSITION:HASH; anything else is `anchor_invalid`, exit 2."""
    status, refusal = audit_verify_json(db_url, "--anchor", anchor)
    assert (status, refusal["error"]) == (2, "anchor_invalid")


def _ten_sealed(ledger: Ledger) -> str:
    """Ten entries, e1 to e10 (cash -> ani, Rp1 to Rp10), entry seq n sealed at chain
    position n; return the head link of the intact chain."""
    a = open_wallets(ledger, "ani")
    requests = [transfer(f"e{n}", a["cash"], a["ani"], idr(n)) for n in range(1, 11)]
    post_sealed(ledger, a, *requests)
    assert [ledger.entry(f"e{n}").seq for n in range(1, 11)] == list(range(1, 11))
    return ledger.verify().chain_head_hash


# What else is altered with a link: the stored digest (the link was sealed over the digest
# the entry's values still recompute), or the values (over the stored digest).
_ENTRY_ALTERED = {"digest": {"digest": "d" * 64}, "values": {"metadata_json": '{"x":1}'}}


@pytest.mark.parametrize("altered", sorted(_ENTRY_ALTERED))
def test_two_adjacent_links_altered_with_their_entries_leave_the_next_link_holding(
    ledger: Ledger, db_url: str, altered: str
) -> None:
    """Positions 5 and 6: link and entry altered. Position 7 follows the link the audit
    carries from position 4 over the digests the sealer read: it holds, and so does the
    head."""
    head = _ten_sealed(ledger)
    with tampering(db_url) as conn:
        for seq in (5, 6):
            _set_link(conn, seq, "e" * 64)
            conn.execute(update(entry).where(entry.c.seq == seq).values(_ENTRY_ALTERED[altered]))
    report = ledger.verify()
    assert _pairs(report) == [
        ("entry_digest_mismatch", "entry e5 (seq 5)"),
        ("entry_digest_mismatch", "entry e6 (seq 6)"),
        ("chain_hash_mismatch", "chain position 5"),
        ("chain_hash_mismatch", "chain position 6"),
    ]
    assert report.chain_head_hash == head


def test_four_adjacent_altered_links_leave_the_links_after_them_holding(
    ledger: Ledger, db_url: str
) -> None:
    head = _ten_sealed(ledger)
    with tampering(db_url) as conn:
        for position in range(5, 9):
            _set_link(conn, position, f"{position}" * 64)
    report = ledger.verify()
    assert _pairs(report) == [("chain_hash_mismatch", f"chain position {p}") for p in range(5, 9)]
    assert report.chain_head_hash == head


def test_a_link_removed_and_the_next_but_one_altered_leave_the_link_after_holding(
    ledger: Ledger, db_url: str
) -> None:
    """Position 4 follows a link no longer stored; position 6 follows the link the sealer
    wrote at 5 over position 4's stored link, which the audit carries too."""
    head = _ten_sealed(ledger)
    with tampering(db_url) as conn:
        conn.execute(delete(chain).where(chain.c.position == 3))
        _set_link(conn, 5, "0" * 64)
    report = ledger.verify()
    assert _pairs(report) == [
        ("chain_gap", "chain position 4"),
        ("chain_hash_mismatch", "chain position 4"),
        ("chain_hash_mismatch", "chain position 5"),
    ]
    assert (report.unsealed_entries, report.chain_head_hash) == (1, head)


def test_alterations_after_a_run_of_bad_links_are_still_reported(
    ledger: Ledger, db_url: str
) -> None:
    """Links and digests altered at 4 and 5, then position 7's link, 8's digest and 9's
    link: each is reported, position 6 and 10 are not, and the head holds."""
    head = _ten_sealed(ledger)
    with tampering(db_url) as conn:
        for position in (4, 5, 7, 9):
            _set_link(conn, position, "e" * 64)
        for seq in (4, 5, 8):
            conn.execute(update(entry).where(entry.c.seq == seq).values(digest="d" * 64))
    report = ledger.verify()
    assert _pairs(report) == [
        ("entry_digest_mismatch", "entry e4 (seq 4)"),
        ("entry_digest_mismatch", "entry e5 (seq 5)"),
        ("entry_digest_mismatch", "entry e8 (seq 8)"),
        ("chain_hash_mismatch", "chain position 4"),
        ("chain_hash_mismatch", "chain position 5"),
        ("chain_hash_mismatch", "chain position 7"),
        ("chain_hash_mismatch", "chain position 9"),
    ]
    assert report.chain_head_hash == head
