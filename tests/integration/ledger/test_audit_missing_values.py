"""The audit, on both engines, when the schema's NOT NULL and unique keys are dropped.

A writer with full SQL and DDL access but not the seal key can drop a NOT NULL (PostgreSQL's
ALTER TABLE; on SQLite by rebuilding the table, `loosening.loosen`) and store a NULL: a
commit time set NULL made the audit skip the entry's digest without a word, so a raised
amount, a hold stripped of its legs or a void re-pointed at another hold passed; a posted
flag set NULL took a leg out of the account walk while the digest read it as not pending; a
NULL link skipped two link checks; a NULL amount or balance crashed the audit. Each NULL
in a NOT NULL column is now `value_missing`, reported with every other finding, and a
NULL running number or balance on a posted leg too. Dropping a unique key let a copy of an
entry under its own id (its digest leaves out the sequence number) pass: a key held twice
is `value_duplicate`. Legs renumbered in order (`posting_leg_gap`) and, on SQLite, a
business date rewritten in another ISO form (`date_form_invalid`) are found. The audit
never raises.

Ledger used throughout (amounts in rupiah):
  fund  cash -> ani   100   ani #1 = 100
  pay   ani  -> budi   40   ani #2 =  60, budi #1 = 40
  hold  ani  -> budi   10   pending, for 600 s (open)
  keep  ani  -> budi    5   pending, for 600 s, voided by `void`
Alongside the NULL, each tampering of the parametrised test adds Rp5 to cash's cached
balance: `account_balance_mismatch` must be reported as well.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Connection, text

from ledger.account import Account
from ledger.audit_report import Finding
from ledger.db import make_engine
from ledger.digest import chain_link
from ledger.service import Ledger
from tests.builders import (
    audited_wallets_with_holds,
    idr,
    open_wallets,
    post_sealed,
    transfer,
)
from tests.cli import audit_verify_json
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.loosening import loosen
from tests.integration.ledger.raw import tampering

_Subject = Callable[[Ledger, dict[str, Account]], str]


def _entry(entry_id: str, *, shown_as: str | None = None) -> _Subject:
    return lambda ledger, _: f"entry {shown_as or entry_id} (seq {ledger.entry(entry_id).seq})"


def _pay_leg_1(ledger: Ledger, _: dict[str, Account]) -> str:
    return f"posting 1 of entry seq {ledger.entry('pay').seq}"


def _budi(*, ref: str | None = None) -> _Subject:
    return lambda _, wallets: f"account {wallets['budi'].id} ({ref or wallets['budi'].ref})"


def _chain(position: str) -> _Subject:
    return lambda _, __: f"chain position {position}"


_PAY = "entry_id = 'pay'"
_PAY_LEGS = "entry_seq = (SELECT seq FROM ledger_entry WHERE entry_id = 'pay')"
_PAY_LEG_1 = f"leg_no = 1 AND {_PAY_LEGS}"
_BUDI = "ref = 'c1:budi'"
_FIRST_LINK = "position = 1"

# Every column the schema declares NOT NULL that is not a primary key: (table, column,
# which row, the subject of the finding).
_NOT_NULL_COLUMNS = [
    ("ledger_entry", "entry_id", _PAY, _entry("pay", shown_as="?")),
    ("ledger_entry", "kind", _PAY, _entry("pay")),
    ("ledger_entry", "business_date", _PAY, _entry("pay")),
    ("ledger_entry", "committed_at", _PAY, _entry("pay")),
    ("ledger_entry", "digest", _PAY, _entry("pay")),
    ("ledger_posting", "account_id", _PAY_LEG_1, _pay_leg_1),
    ("ledger_posting", "coop_id", _PAY_LEG_1, _pay_leg_1),
    ("ledger_posting", "currency", _PAY_LEG_1, _pay_leg_1),
    ("ledger_posting", "amount_minor", _PAY_LEG_1, _pay_leg_1),
    ("ledger_posting", "is_pending", _PAY_LEG_1, _pay_leg_1),
    ("ledger_posting", "committed_at", _PAY_LEG_1, _pay_leg_1),
    ("ledger_account", "ref", _BUDI, _budi(ref="?")),
    ("ledger_account", "coop_id", _BUDI, _budi()),
    ("ledger_account", "currency", _BUDI, _budi()),
    ("ledger_account", "kind", _BUDI, _budi()),
    ("ledger_account", "status", _BUDI, _budi()),
    ("ledger_account", "posted_minor", _BUDI, _budi()),
    ("ledger_account", "pending_debit_minor", _BUDI, _budi()),
    ("ledger_account", "pending_credit_minor", _BUDI, _budi()),
    ("ledger_account", "posting_count", _BUDI, _budi()),
    ("ledger_account", "created_at", _BUDI, _budi()),
    ("ledger_chain", "entry_seq", _FIRST_LINK, _chain("1")),
    ("ledger_chain", "chain_hash", _FIRST_LINK, _chain("1")),
    ("ledger_chain", "sealed_at", _FIRST_LINK, _chain("1")),
]
# The primary keys' columns: PostgreSQL drops their NOT NULL with the key.
_KEY_COLUMNS = [
    ("ledger_entry", "seq", _PAY),
    ("ledger_posting", "entry_seq", _PAY_LEG_1),
    ("ledger_posting", "leg_no", _PAY_LEG_1),
    ("ledger_chain", "position", _FIRST_LINK),
]


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    return audited_wallets_with_holds(ledger)


def _findings(ledger: Ledger) -> list[Finding]:
    report = ledger.verify()
    assert not report.intact
    return report.findings


def _pairs(ledger: Ledger) -> set[tuple[str, str]]:
    return {(f.code, f.subject) for f in _findings(ledger)}


def _run(conn: Connection, *statements: str) -> None:
    for statement in statements:
        conn.execute(text(statement))


@pytest.mark.parametrize(("table", "column", "where", "subject"), _NOT_NULL_COLUMNS)
def test_a_null_in_a_not_null_column_is_a_finding_beside_the_others(
    ledger: Ledger,
    wallets: dict[str, Account],
    db_url: str,
    table: str,
    column: str,
    where: str,
    subject: _Subject,
) -> None:
    expected = ("value_missing", subject(ledger, wallets))
    with tampering(db_url) as conn:
        loosen(conn, table)
        _run(
            conn,
            f"UPDATE {table} SET {column} = NULL WHERE {where}",
            "UPDATE ledger_account SET posted_minor = posted_minor + 500 WHERE ref = 'c1:cash'",
        )
    findings = _pairs(ledger)
    cash = wallets["cash"]
    assert expected in findings
    assert ("account_balance_mismatch", f"account {cash.id} ({cash.ref})") in findings


@pytest.mark.parametrize(("table", "column", "where"), _KEY_COLUMNS)
def test_a_null_in_a_primary_key_column_is_a_finding_and_the_audit_goes_on(
    ledger: Ledger, wallets: dict[str, Account], db_url: str, table: str, column: str, where: str
) -> None:
    with tampering(db_url) as conn:
        loosen(conn, table)
        _run(conn, f"UPDATE {table} SET {column} = NULL WHERE {where}")
    assert "value_missing" in {f.code for f in _findings(ledger)}


def test_a_raised_amount_behind_null_commit_times_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The review's attack: a sealed posting's amount raised, and the entry's and its
    postings' commit times set NULL so that its digest was not recomputed."""
    seq = ledger.entry("pay").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_entry")
        loosen(conn, "ledger_posting")
        _run(
            conn,
            f"UPDATE ledger_posting SET amount_minor = 5000 WHERE leg_no = 2 AND {_PAY_LEGS}",
            f"UPDATE ledger_entry SET committed_at = NULL WHERE {_PAY}",
            f"UPDATE ledger_posting SET committed_at = NULL WHERE {_PAY_LEGS}",
        )
    findings = _findings(ledger)
    missing = {(f.subject, f.detail.split()[0]) for f in findings if f.code == "value_missing"}
    assert missing == {
        (f"entry pay (seq {seq})", "committed_at"),
        (f"posting 1 of entry seq {seq}", "committed_at"),
        (f"posting 2 of entry seq {seq}", "committed_at"),
    }


def test_an_open_hold_stripped_of_its_legs_behind_a_null_commit_time_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    hold = ledger.entry("hold").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_entry")
        _run(
            conn,
            f"DELETE FROM ledger_posting WHERE entry_seq = {hold}",
            f"UPDATE ledger_entry SET committed_at = NULL WHERE seq = {hold}",
            "UPDATE ledger_account SET pending_debit_minor = 0 WHERE ref = 'c1:ani'",
            "UPDATE ledger_account SET pending_credit_minor = 0 WHERE ref = 'c1:budi'",
        )
    assert {f.code for f in _findings(ledger)} == {"value_missing"}
    assert ("value_missing", f"entry hold (seq {hold})") in _pairs(ledger)


def test_a_void_re_pointed_at_another_hold_behind_a_null_commit_time_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The void now releases `hold` and leaves `keep` open; the cached pending amounts are
    put in line with that."""
    hold, void = ledger.entry("hold").seq, ledger.entry("void").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_entry")
        _run(
            conn,
            f"UPDATE ledger_entry SET target_seq = {hold}, committed_at = NULL WHERE seq = {void}",
            "UPDATE ledger_account SET pending_debit_minor = 500 WHERE ref = 'c1:ani'",
            "UPDATE ledger_account SET pending_credit_minor = 500 WHERE ref = 'c1:budi'",
        )
    assert _pairs(ledger) == {("value_missing", f"entry void (seq {void})")}


def test_posted_flags_set_null_keep_their_legs_in_the_account_walk(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """`pay`'s legs flagged NULL, and ani's and budi's caches put back to what they were
    before it: the legs were left out of the walk, and the digest read NULL as not pending."""
    seq = ledger.entry("pay").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_posting")
        _run(
            conn,
            f"UPDATE ledger_posting SET is_pending = NULL WHERE {_PAY_LEGS}",
            "UPDATE ledger_account SET posted_minor = 10000, posting_count = 1"
            " WHERE ref = 'c1:ani'",
            "UPDATE ledger_account SET posted_minor = 0, posting_count = 0 WHERE ref = 'c1:budi'",
        )
    findings = _pairs(ledger)
    assert ("value_missing", f"posting 1 of entry seq {seq}") in findings
    assert ("value_missing", f"posting 2 of entry seq {seq}") in findings
    ani, budi = wallets["ani"], wallets["budi"]
    assert ("account_balance_mismatch", f"account {ani.id} ({ani.ref})") in findings
    assert ("account_balance_mismatch", f"account {budi.id} ({budi.ref})") in findings


def test_a_null_link_is_a_finding_at_its_position(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Position 4 is checked against the link the audit computes for position 3: it
    holds, and so does the head."""
    head = ledger.verify().chain_head_hash
    with tampering(db_url) as conn:
        loosen(conn, "ledger_chain")
        _run(conn, "UPDATE ledger_chain SET chain_hash = NULL WHERE position = 3")
    report = ledger.verify()
    assert [(f.code, f.subject) for f in report.findings] == [("value_missing", "chain position 3")]
    assert (report.chain_length, report.chain_head_hash) == (5, head)


def test_a_link_altered_after_a_null_one_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The review's attack: with position 3's link NULL, position 4's was not checked at
    all. Position 5 follows the link the audit computes for 4, and holds."""
    head = ledger.verify().chain_head_hash
    with tampering(db_url) as conn:
        loosen(conn, "ledger_chain")
        _run(
            conn,
            "UPDATE ledger_chain SET chain_hash = NULL WHERE position = 3",
            f"UPDATE ledger_chain SET chain_hash = '{'0' * 64}' WHERE position = 4",
        )
    report = ledger.verify()
    assert [(f.code, f.subject) for f in report.findings] == [
        ("value_missing", "chain position 3"),
        ("chain_hash_mismatch", "chain position 4"),
    ]
    assert report.chain_head_hash == head


def test_a_null_link_over_an_altered_digest_leaves_the_next_link_holding(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """`hold`'s stored digest altered and its link NULL: the audit computes the link over
    the digest `hold`'s values give, which the sealer linked, and position 4 holds."""
    hold = ledger.entry("hold").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_chain")
        _run(
            conn,
            "UPDATE ledger_chain SET chain_hash = NULL WHERE position = 3",
            f"UPDATE ledger_entry SET digest = '{'0' * 64}' WHERE seq = {hold}",
        )
    assert {(f.code, f.subject) for f in ledger.verify().findings} == {
        ("value_missing", "chain position 3"),
        ("entry_digest_mismatch", f"entry hold (seq {hold})"),
    }


def test_a_null_head_link_gives_no_anchor(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The report's head is where an anchor is kept from: a link the audit computed in
    place of a NULL is not what the chain holds, so the head is "?"."""
    with tampering(db_url) as conn:
        loosen(conn, "ledger_chain")
        _run(conn, "UPDATE ledger_chain SET chain_hash = NULL WHERE position = 5")
    report = ledger.verify()
    assert [(f.code, f.subject) for f in report.findings] == [("value_missing", "chain position 5")]
    assert (report.chain_length, report.chain_head_hash) == (5, "?")


@pytest.mark.parametrize(
    ("column", "subject"),
    [
        ("amount_minor", lambda ledger, _: f"posting 1 of entry seq {ledger.entry('pay').seq}"),
        ("balance_after_minor", lambda _, w: f"account {w['ani'].id} posting 2"),
        ("account_posting_no", lambda _, w: f"account {w['ani'].id} posting ?"),
    ],
)
def test_a_posted_leg_without_its_amount_or_running_values_is_a_finding_not_a_crash(
    ledger: Ledger, wallets: dict[str, Account], db_url: str, column: str, subject: _Subject
) -> None:
    expected = ("value_missing", subject(ledger, wallets))
    with tampering(db_url) as conn:
        loosen(conn, "ledger_posting")
        _run(conn, f"UPDATE ledger_posting SET {column} = NULL WHERE {_PAY_LEG_1}")
    assert expected in _pairs(ledger)


def test_null_balances_of_an_account_are_findings_not_a_crash(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    with tampering(db_url) as conn:
        loosen(conn, "ledger_account")
        _run(
            conn,
            "UPDATE ledger_account SET posted_minor = NULL, pending_debit_minor = NULL"
            " WHERE ref = 'c1:ani'",
        )
    ani = wallets["ani"]
    details = {f.detail.split()[0] for f in _findings(ledger) if f.code == "value_missing"}
    assert details == {"posted_minor", "pending_debit_minor"}
    assert ("value_missing", f"account {ani.id} ({ani.ref})") in _pairs(ledger)


def test_audit_verify_exits_1_when_a_value_is_missing(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    with tampering(db_url) as conn:
        loosen(conn, "ledger_entry")
        _run(conn, f"UPDATE ledger_entry SET committed_at = NULL WHERE {_PAY}")
    status, report = audit_verify_json(db_url, "--no-seal-first")
    assert status == 1, report
    assert {f["code"] for f in report["findings"]} == {"value_missing"}


def _copy_entry(conn: Connection, seq: int, new_seq: int) -> None:
    """Copy the entry `seq`, with its postings, to the number `new_seq`, under its id."""
    entry_columns = "entry_id, kind, target_seq, business_date, timeout_s, expires_at,"
    entry_columns += " metadata_json, committed_at, digest"
    posting_columns = "leg_no, account_id, coop_id, currency, amount_minor, is_pending,"
    posting_columns += " account_posting_no, balance_after_minor, committed_at"
    _run(
        conn,
        f"INSERT INTO ledger_posting (entry_seq, {posting_columns})"
        f" SELECT {new_seq}, {posting_columns} FROM ledger_posting WHERE entry_seq = {seq}",
        f"INSERT INTO ledger_entry (seq, {entry_columns})"
        f" SELECT {new_seq}, {entry_columns} FROM ledger_entry WHERE seq = {seq}",
    )


def test_a_copy_of_a_hold_under_its_own_id_is_a_duplicate(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """A hold's legs carry no running number: a copy with its digest, and the pending
    amounts cached to match, passed the audit once the unique index was gone."""
    hold = ledger.entry("hold").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_entry")
        _copy_entry(conn, hold, 100)
        _run(
            conn,
            "UPDATE ledger_account SET pending_debit_minor = 2000 WHERE ref = 'c1:ani'",
            "UPDATE ledger_account SET pending_credit_minor = 2000 WHERE ref = 'c1:budi'",
        )
    findings = _findings(ledger)
    assert [(f.code, f.subject) for f in findings] == [("value_duplicate", "entry hold (seq 100)")]
    assert f"seq {hold}" in findings[0].detail


def test_a_second_resolution_of_one_hold_is_a_duplicate(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    void, keep = ledger.entry("void").seq, ledger.entry("keep").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_entry")
        _copy_entry(conn, void, 100)
    details = [f.detail for f in _findings(ledger) if f.subject == "entry void (seq 100)"]
    assert len(details) == 2
    assert any(f"target_seq {keep}" in detail for detail in details)


def test_an_entry_number_held_twice_is_a_duplicate(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    void = ledger.entry("void").seq
    with tampering(db_url) as conn:
        loosen(conn, "ledger_entry")
        _run(
            conn,
            "INSERT INTO ledger_entry SELECT seq, 'void-2', kind, NULL, business_date,"
            " timeout_s, expires_at, metadata_json, committed_at, digest"
            f" FROM ledger_entry WHERE seq = {void}",
        )
    assert ("value_duplicate", f"entry void-2 (seq {void})") in _pairs(ledger)


def test_an_entry_sealed_twice_is_a_duplicate(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """A sixth link that seals `pay` again, keyed correctly (the test knows the key)."""
    head = ledger.verify().chain_head_hash
    pay = ledger.entry("pay")
    link = chain_link(TEST_SEAL_KEY, head, pay.digest)
    with tampering(db_url) as conn:
        loosen(conn, "ledger_chain")
        conn.execute(
            text(
                "INSERT INTO ledger_chain (position, entry_seq, chain_hash, sealed_at)"
                " SELECT 6, :seq, :link, sealed_at FROM ledger_chain WHERE position = 1"
            ),
            {"seq": pay.seq, "link": link},
        )
    assert _pairs(ledger) == {("value_duplicate", "chain position 6")}


def test_an_account_id_held_twice_is_a_duplicate(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    with tampering(db_url) as conn:
        loosen(conn, "ledger_account")
        _run(conn, f"INSERT INTO ledger_account SELECT * FROM ledger_account WHERE {_BUDI}")
    budi = wallets["budi"]
    assert ("value_duplicate", f"account {budi.id} ({budi.ref})") in _pairs(ledger)


def test_legs_renumbered_in_order_are_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    with tampering(db_url) as conn:
        _run(conn, f"UPDATE ledger_posting SET leg_no = leg_no + 10 WHERE {_PAY_LEGS}")
    findings = _findings(ledger)
    assert [(f.code, f.subject) for f in findings] == [
        ("posting_leg_gap", _entry("pay")(ledger, wallets))
    ]


@pytest.mark.parametrize("stored", ["2026-W48-1", "2026W481"])
def test_a_business_date_in_another_iso_form_is_found_on_sqlite(
    sqlite_url: str, stored: str
) -> None:
    engine = make_engine(sqlite_url)
    ledger = Ledger(engine, seal_key=TEST_SEAL_KEY)
    try:
        a = open_wallets(ledger, "ani")
        post_sealed(ledger, a, transfer("fund", a["cash"], a["ani"], idr(100)))
        assert date.fromisoformat(stored) == date(2026, 11, 23), "the same day, as Python reads"
        seq = ledger.entry("fund").seq
        with tampering(sqlite_url) as conn:
            _run(conn, f"UPDATE ledger_entry SET business_date = '{stored}'")
        assert _pairs(ledger) == {("date_form_invalid", f"entry seq {seq}")}
    finally:
        ledger.close()
        engine.dispose()
