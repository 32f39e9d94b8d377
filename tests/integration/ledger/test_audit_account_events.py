"""The account history, on both engines: each status change raises the account's terms
version, seals it in the terms digest and appends an event to `ledger_account_event`
(migration 0013), linked into a keyed chain; `Ledger.verify()` / `kopnet audit verify`
recompute the chain and require each account to match its latest event.

The gap this closes: a frozen (or closed) account put back behind the ledger's back as it
was before the change, its earlier status with its earlier digest, verifies on its terms
digest alone; against the history it is `account_terms_rolled_back`. An account whose
newest events were removed is `account_event_missing`, an event altered or removed from
the middle `account_event_chain_broken`, events of an account removed
`account_event_without_account`. Its newest events removed with the accounts they changed
put back leave a consistent history: the report's events anchor, kept outside and given
back (`--events-anchor`), shows it (`account_event_anchor_missing`).

Ledger used throughout (amounts in rupiah), as in `test_audit.py`:
  fund    cash -> ani   100   ani #1 = 100
  pay     ani  -> budi   40   ani #2 =  60, budi #1 = 40
  top-up  cash -> citra  10   citra #1 = 10
and dewi, an empty wallet of the same cooperative.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ledger.account import Account, AccountStatus
from ledger.audit import AuditReport, ChainAnchor
from ledger.digest import GENESIS_HASH
from ledger.service import Ledger
from ledger.tables import account, account_event
from tests.builders import audited_three_wallets_and_dewi, open_wallets
from tests.cli import audit_verify_json, invoke
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import CHANGE_REFUSED, SEALED_TERMS, refusal_code, tampering

ACTIVE, FROZEN, CLOSED = AccountStatus.ACTIVE, AccountStatus.FROZEN, AccountStatus.CLOSED


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    return audited_three_wallets_and_dewi(ledger)


def _findings(report: AuditReport) -> list[tuple[str, str]]:
    return [(f.code, f.subject) for f in report.findings]


def _events(ledger: Ledger) -> list[tuple[int, int, int, str]]:
    """The history as (seq, account, version, status), in order."""
    c = account_event.c
    query = select(c.seq, c.account_id, c.version, c.status).order_by(c.seq)
    with ledger.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def _seal(ledger: Ledger, account_id: int) -> dict[str, Any]:
    """The account row's status, terms version and digest, as stored."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(*SEALED_TERMS).where(account.c.id == account_id)).one()
    return dict(row._mapping)


def _put_back(url: str, account_id: int, seal: dict[str, Any]) -> None:
    """Restore an account's earlier status, version and digest behind the ledger's back."""
    with tampering(url) as conn:
        conn.execute(update(account).where(account.c.id == account_id).values(seal))


def test_status_changes_are_recorded_in_order_and_the_audit_stays_intact(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    """Freeze, unfreeze, freeze again (no change, no event) and close an empty account:
    one event per change, each account at its latest version."""
    ani, budi, dewi = (wallets[name].id for name in ("ani", "budi", "dewi"))
    for account_id, status in ((ani, FROZEN), (ani, ACTIVE), (budi, FROZEN), (budi, FROZEN)):
        ledger.set_account_status(account_id, status)
    ledger.set_account_status(dewi, CLOSED)
    assert _events(ledger) == [
        (1, ani, 1, "frozen"),
        (2, ani, 2, "active"),
        (3, budi, 1, "frozen"),
        (4, dewi, 1, "closed"),
    ]
    assert [_seal(ledger, i)["terms_version"] for i in (ani, budi, dewi)] == [2, 1, 1]
    assert _seal(ledger, wallets["citra"].id)["terms_version"] == 0
    report = ledger.verify()
    assert report.intact, report.findings


@pytest.mark.parametrize(("status", "name"), [(FROZEN, "budi"), (CLOSED, "dewi")])
def test_an_account_put_back_as_it_was_before_a_status_change_is_rolled_back(
    ledger: Ledger, wallets: dict[str, Account], db_url: str, status: AccountStatus, name: str
) -> None:
    """The gap: budi frozen (dewi closed), then his row's earlier status, version 0 and
    digest copied back. The terms digest verifies on its own; the history's latest event
    says version 1, and `kopnet audit verify` exits 1."""
    account_id = wallets[name].id
    before = _seal(ledger, account_id)
    ledger.set_account_status(account_id, status)
    _put_back(db_url, account_id, before)
    assert _seal(ledger, account_id) == {**before, "status": "active"}
    expected = [("account_terms_rolled_back", f"account {account_id} (c1:{name})")]
    assert _findings(ledger.verify()) == expected
    exit_status, report = audit_verify_json(db_url)
    assert exit_status == 1
    assert [(f["code"], f["subject"]) for f in report["findings"]] == expected


_REWRITES = [
    "UPDATE ledger_account_event SET status = 'active'",
    "DELETE FROM ledger_account_event",
]
# From a connection without recursive triggers (the `sqlite3` shell; kopnet's own turn
# them on), a REPLACE deletes the row it replaces without firing the DELETE trigger.
_REPLACES = [
    "INSERT OR REPLACE INTO ledger_account_event SELECT seq, account_id, coop_id, version,"
    " 'active', terms_digest, created_at, chain_hash FROM ledger_account_event",
    "INSERT OR REPLACE INTO ledger_account_event (rowid, seq, account_id, coop_id, version,"
    " status, terms_digest, created_at, chain_hash) SELECT rowid, 9, account_id, coop_id,"
    " 9, status, terms_digest, created_at, chain_hash FROM ledger_account_event",
]


def test_the_history_is_append_only(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi's freeze event cannot be rewritten or deleted; on PostgreSQL the table cannot
    be truncated, and on SQLite a plain connection cannot replace the event by its key or
    its rowid."""
    ledger.set_account_status(wallets["budi"].id, FROZEN)
    dialect = ledger.engine.dialect.name
    truncate = ["TRUNCATE ledger_account_event"] if dialect == "postgresql" else []
    for sql in [*_REWRITES, *truncate]:
        with pytest.raises(DBAPIError) as refused, ledger.engine.begin() as conn:
            conn.execute(text(sql))
        assert (sql, refusal_code(refused.value)) == (sql, CHANGE_REFUSED[dialect])
    if dialect == "sqlite":
        plain = sqlite3.connect(make_url(db_url).database or "")
        try:
            for sql in _REPLACES:
                with pytest.raises(sqlite3.IntegrityError), plain:
                    plain.execute(sql)
        finally:
            plain.close()
    assert _events(ledger) == [(1, wallets["budi"].id, 1, "frozen")]
    assert ledger.verify().intact


def test_an_account_put_back_at_an_earlier_version_is_rolled_back(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi frozen, unfrozen and frozen again; his row as it was after the unfreeze
    (active, version 2 and its digest) copied back is behind the history's version 3."""
    budi = wallets["budi"].id
    ledger.set_account_status(budi, FROZEN)
    ledger.set_account_status(budi, ACTIVE)
    unfrozen = _seal(ledger, budi)
    ledger.set_account_status(budi, FROZEN)
    _put_back(db_url, budi, unfrozen)
    report = ledger.verify()
    assert _findings(report) == [("account_terms_rolled_back", f"account {budi} (c1:budi)")]
    assert "behind its history's 3" in report.findings[0].detail


def test_a_status_change_over_an_account_put_back_is_recorded_but_does_not_bless_it(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi frozen, put back as before the freeze, then frozen again through the ledger
    (an operator who sees him active): the freeze is recorded, at version 2 after the
    history's 1, but his digest is left as it was, so it no longer matches his terms."""
    budi = wallets["budi"].id
    before = _seal(ledger, budi)
    ledger.set_account_status(budi, FROZEN)
    _put_back(db_url, budi, before)
    ledger.set_account_status(budi, FROZEN)
    after = _seal(ledger, budi)
    assert after == {"status": "frozen", "terms_version": 2, "terms_digest": before["terms_digest"]}
    assert _events(ledger)[-1] == (2, budi, 2, "frozen")
    assert _findings(ledger.verify()) == [("account_terms_mismatch", f"account {budi} (c1:budi)")]


def test_an_account_whose_newest_event_was_removed_is_reported(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The newest event deleted (its append-only trigger out of the way): no link after it
    breaks, but budi's version 1 is no event's."""
    budi = wallets["budi"].id
    ledger.set_account_status(budi, FROZEN)
    with tampering(db_url) as conn:
        conn.execute(delete(account_event).where(account_event.c.seq == 1))
    assert _findings(ledger.verify()) == [("account_event_missing", f"account {budi} (c1:budi)")]


def _two_accounts_changed_twice(ledger: Ledger, wallets: dict[str, Account]) -> None:
    """Events 1 to 4: ani frozen, budi frozen, budi unfrozen, ani unfrozen."""
    ani, budi = wallets["ani"].id, wallets["budi"].id
    for account_id, status in ((ani, FROZEN), (budi, FROZEN), (budi, ACTIVE), (ani, ACTIVE)):
        ledger.set_account_status(account_id, status)


def test_an_event_altered_behind_the_ledger_breaks_its_link(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Event 2 (budi frozen, not his latest) rewritten as closed: its link does not
    recompute; the one after it, checked against the stored link, holds."""
    _two_accounts_changed_twice(ledger, wallets)
    with tampering(db_url) as conn:
        altered = update(account_event).where(account_event.c.seq == 2).values(status="closed")
        conn.execute(altered)
    assert _findings(ledger.verify()) == [("account_event_chain_broken", "account event 2")]


def test_an_event_removed_from_the_middle_breaks_the_next_link(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    _two_accounts_changed_twice(ledger, wallets)
    with tampering(db_url) as conn:
        conn.execute(delete(account_event).where(account_event.c.seq == 2))
    assert _findings(ledger.verify()) == [("account_event_chain_broken", "account event 3")]


def test_every_event_of_one_account_removed_from_the_middle_breaks_the_chain(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi's only event (the first) deleted and his row as before it put back: he then
    looks never changed, but ani's event after it no longer links."""
    budi, ani = wallets["budi"].id, wallets["ani"].id
    before = _seal(ledger, budi)
    ledger.set_account_status(budi, FROZEN)
    ledger.set_account_status(ani, FROZEN)
    with tampering(db_url) as conn:
        conn.execute(delete(account_event).where(account_event.c.account_id == budi))
    _put_back(db_url, budi, before)
    assert _findings(ledger.verify()) == [("account_event_chain_broken", "account event 2")]


def test_events_reordered_or_copied_onto_another_account_break_the_chain(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Events 2 and 3 (budi's) swapped; then event 1 (ani's freeze) copied as a fifth, as
    her third version: neither links where it now stands."""
    _two_accounts_changed_twice(ledger, wallets)
    with tampering(db_url) as conn:
        for old, new in ((2, 9), (3, 2), (9, 3)):
            conn.execute(update(account_event).where(account_event.c.seq == old).values(seq=new))
    assert ("account_event_chain_broken", "account event 2") in _findings(ledger.verify())
    with tampering(db_url) as conn:
        first = conn.execute(select(account_event).where(account_event.c.seq == 1)).one()
        copied = {**first._mapping, "seq": 5, "account_id": wallets["ani"].id, "version": 3}
        conn.execute(insert(account_event).values(copied))
    assert ("account_event_chain_broken", "account event 5") in _findings(ledger.verify())


def test_the_latest_event_altered_to_match_an_account_put_back_is_found_twice(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi put back as before his freeze, and his freeze event rewritten to say version 0
    is gone: the event's link breaks, and the account is still behind it."""
    budi = wallets["budi"].id
    before = _seal(ledger, budi)
    ledger.set_account_status(budi, FROZEN)
    _put_back(db_url, budi, before)
    with tampering(db_url) as conn:
        conn.execute(update(account_event).values(status="active"))
    assert _findings(ledger.verify()) == [
        ("account_event_chain_broken", "account event 1"),
        ("account_terms_rolled_back", f"account {budi} (c1:budi)"),
    ]


def test_events_of_an_account_removed_behind_the_ledger_are_reported(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Dewi closed (empty, no postings), then her row deleted with the foreign keys off."""
    dewi = wallets["dewi"].id
    ledger.set_account_status(dewi, CLOSED)
    with tampering(db_url) as conn:
        conn.execute(delete(account).where(account.c.id == dewi))
    assert _findings(ledger.verify()) == [("account_event_without_account", f"account {dewi}")]


def _store_time(conn: Connection, value: str) -> None:
    conn.exec_driver_sql(f"UPDATE ledger_account_event SET created_at = {value} WHERE seq = 1")


def test_an_event_time_that_does_not_read_is_reported_and_the_audit_goes_on(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Event 1's time stored as what the driver cannot read: reported, its link not
    recomputed; the next link, checked against the stored one, holds."""
    _two_accounts_changed_twice(ledger, wallets)
    with tampering(db_url) as conn:
        _store_time(conn, "'infinity'" if conn.dialect.name == "postgresql" else "'garbage'")
    assert _findings(ledger.verify()) == [("timestamp_unreadable", "account event 1")]


def test_the_newest_freeze_undone_with_its_event_is_found_against_the_events_anchor(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """What the history alone cannot show: budi frozen (the newest event, as a freeze
    usually is), the night's audit keeps its anchors; then his event deleted and his row as
    before the freeze put back. The history left is consistent, and the entry chain's
    anchor does not cover it; `--events-anchor` does: exit 1."""
    ani, budi = wallets["ani"].id, wallets["budi"].id
    ledger.set_account_status(ani, FROZEN)
    ledger.set_account_status(ani, ACTIVE)
    before = _seal(ledger, budi)
    ledger.set_account_status(budi, FROZEN)
    status, night = audit_verify_json(db_url)
    assert (status, night["events_length"]) == (0, 3)
    assert night["events_anchor"] == f"3:{night['events_head_hash']}"
    with tampering(db_url) as conn:
        conn.execute(delete(account_event).where(account_event.c.seq == 3))
    _put_back(db_url, budi, before)
    assert audit_verify_json(db_url, "--anchor", night["anchor"])[0] == 0
    status, report = audit_verify_json(
        db_url, "--anchor", night["anchor"], "--events-anchor", night["events_anchor"]
    )
    assert status == 1
    findings = [(f["code"], f["subject"]) for f in report["findings"]]
    assert findings == [("account_event_anchor_missing", "account event 3")]
    assert (report["events_length"], report["events_anchor"]) == (
        2,
        f"2:{report['events_head_hash']}",
    )


def test_an_events_anchor_is_held_as_the_history_grows_and_its_link_is_compared(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    """An anchor kept at event 2 holds after more status changes; the same event with
    another link (the history rebuilt, or another ledger's anchor) is a mismatch."""
    _two_accounts_changed_twice(ledger, wallets)
    at_four = ledger.verify()
    assert (at_four.events_length, at_four.intact) == (4, True)
    ledger.set_account_status(wallets["dewi"].id, CLOSED)
    anchor = ChainAnchor(at_four.events_length, at_four.events_head_hash)
    later = ledger.verify(events_anchor=anchor)
    assert (later.events_length, later.intact) == (5, True), later.findings
    assert later.events_head_hash != at_four.events_head_hash
    forged = ChainAnchor(2, "0" * 64)
    expected = [("account_event_anchor_mismatch", "account event 2")]
    assert _findings(ledger.verify(events_anchor=forged)) == expected


def test_the_genesis_events_anchor_is_held_by_every_history(ledger: Ledger) -> None:
    """A new ledger's report gives events anchor `0:000...0`: every history holds it, and
    position 0 with another link is a mismatch."""
    first = ledger.verify()
    genesis = ChainAnchor(first.events_length, first.events_head_hash)
    assert (genesis.position, genesis.chain_hash) == (0, GENESIS_HASH)
    opened = open_wallets(ledger, "ani")
    ledger.set_account_status(opened["ani"].id, FROZEN)
    assert ledger.verify(events_anchor=genesis).intact
    forged = ledger.verify(events_anchor=ChainAnchor(0, "1" * 64))
    assert _findings(forged) == [("account_event_anchor_mismatch", "account event 0")]


def test_the_events_head_is_unknown_when_the_newest_link_does_not_hold(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The report's head link is where an events anchor is kept from: one that does not
    hold is given as "?", never an anchor to keep."""
    _two_accounts_changed_twice(ledger, wallets)
    with tampering(db_url) as conn:
        conn.execute(update(account_event).where(account_event.c.seq == 4).values(status="frozen"))
    report = ledger.verify()
    assert (report.events_length, report.events_head_hash) == (4, "?")
    assert ("account_event_chain_broken", "account event 4") in _findings(report)


@pytest.mark.parametrize("anchor", ["3", "x:" + "0" * 64, "3:" + "0" * 63])
def test_audit_verify_refuses_a_malformed_events_anchor(db_url: str, anchor: str) -> None:
    status, refusal = audit_verify_json(db_url, "--events-anchor", anchor)
    assert (status, refusal["error"]) == (2, "anchor_invalid")


def test_audit_verify_prints_both_anchors(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The text report names both anchors to keep."""
    ledger.set_account_status(wallets["budi"].id, FROZEN)
    head = ledger.verify().events_head_hash
    env = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()}
    result = invoke("audit", "verify", "--database-url", db_url, env=env)
    assert result.exit_code == 0, result.output
    assert f"events 1:{head}" in " ".join(result.output.split()), result.output
