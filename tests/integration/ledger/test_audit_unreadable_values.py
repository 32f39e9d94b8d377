"""The audit, on SQLite, when a stored text or integer cannot be read back.

SQLite keeps whatever a writer behind the ledger's back stores: text that is not UTF-8
(Python's sqlite3 raises when it fetches the row), a blob in a text column, text, a real
or a blob in a column of integers. The audit reads every such column in a raw form
(`ledger.stored_values`) and reports a value that does not read as `text_unreadable` or
`integer_unreadable`, with every other finding of the same pass; `kopnet audit verify`
exits 1 (tampered), never with a traceback. PostgreSQL's typed columns cannot hold these.

Ledger used throughout (amounts in rupiah):
  fund  cash -> ani   100   ani #1 = 100
  pay   ani  -> budi   40   ani #2 =  60, budi #1 = 40
  hold  ani  -> budi   10   pending, for 600 s (open)
  keep  ani  -> budi    5   pending, for 600 s, voided by `void`
Alongside the value, each tampering adds Rp5 to cash's cached balance:
`account_balance_mismatch` must be reported as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from ledger.account import Account
from ledger.db import make_engine
from ledger.service import Ledger
from tests.builders import (
    audited_wallets_with_holds,
)
from tests.cli import audit_verify_json, invoke
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import tampering

_Subject = Callable[[Ledger, dict[str, Account]], str]


def _entry(entry_id: str, *, shown_as: str | None = None, seq: str | None = None) -> _Subject:
    """An entry as a finding names it; `shown_as` and `seq` for an id or number unread."""
    return lambda ledger, _: (
        f"entry {shown_as or entry_id} (seq {seq or ledger.entry(entry_id).seq})"
    )


def _pay_leg_1(*, leg: str = "1", seq: str | None = None) -> _Subject:
    return lambda ledger, _: f"posting {leg} of entry seq {seq or ledger.entry('pay').seq}"


def _budi(*, ref: str | None = None) -> _Subject:
    return lambda _, wallets: f"account {wallets['budi'].id} ({ref or wallets['budi'].ref})"


def _chain(position: str) -> _Subject:
    return lambda _, __: f"chain position {position}"


_PAY = "entry_id = 'pay'"
_PAY_LEG_1 = "leg_no = 1 AND entry_seq = (SELECT seq FROM ledger_entry WHERE entry_id = 'pay')"
_BUDI = "ref = 'c1:budi'"
_FIRST_LINK = "position = 1"

# (table, column, which row, the subject of the finding); `id` is SQLite's rowid (an integer
# always), `sealed_at` is read by no check.
_TEXT_COLUMNS = [
    ("ledger_entry", "entry_id", _PAY, _entry("pay", shown_as="?")),
    ("ledger_entry", "entry_id", "entry_id = 'keep'", _entry("void")),
    ("ledger_entry", "kind", _PAY, _entry("pay")),
    ("ledger_entry", "metadata_json", _PAY, _entry("pay")),
    ("ledger_entry", "digest", _PAY, _entry("pay")),
    ("ledger_posting", "currency", _PAY_LEG_1, _pay_leg_1()),
    ("ledger_account", "ref", _BUDI, _budi(ref="?")),
    ("ledger_account", "currency", _BUDI, _budi()),
    ("ledger_account", "kind", _BUDI, _budi()),
    ("ledger_account", "status", _BUDI, _budi()),
    ("ledger_account", "terms_digest", _BUDI, _budi()),
    ("ledger_chain", "chain_hash", _FIRST_LINK, _chain("1")),
]
_INTEGER_COLUMNS = [
    ("ledger_entry", "seq", _PAY, _entry("pay", seq="?")),
    ("ledger_entry", "target_seq", "entry_id = 'void'", _entry("void")),
    ("ledger_entry", "timeout_s", "entry_id = 'hold'", _entry("hold")),
    ("ledger_posting", "entry_seq", _PAY_LEG_1, _pay_leg_1(seq="?")),
    ("ledger_posting", "leg_no", _PAY_LEG_1, _pay_leg_1(leg="?")),
    ("ledger_posting", "account_id", _PAY_LEG_1, _pay_leg_1()),
    ("ledger_posting", "coop_id", _PAY_LEG_1, _pay_leg_1()),
    ("ledger_posting", "amount_minor", _PAY_LEG_1, _pay_leg_1()),
    ("ledger_posting", "is_pending", _PAY_LEG_1, _pay_leg_1()),
    ("ledger_posting", "account_posting_no", _PAY_LEG_1, _pay_leg_1()),
    ("ledger_posting", "balance_after_minor", _PAY_LEG_1, _pay_leg_1()),
    ("ledger_account", "coop_id", _BUDI, _budi()),
    ("ledger_account", "min_balance_minor", _BUDI, _budi()),
    ("ledger_account", "max_balance_minor", _BUDI, _budi()),
    ("ledger_account", "posted_minor", _BUDI, _budi()),
    ("ledger_account", "posting_count", _BUDI, _budi()),
    ("ledger_account", "pending_debit_minor", _BUDI, _budi()),
    ("ledger_account", "pending_credit_minor", _BUDI, _budi()),
    ("ledger_chain", "position", _FIRST_LINK, _chain("?")),
    ("ledger_chain", "entry_seq", _FIRST_LINK, _chain("1")),
]
_NOT_UTF8 = "CAST(X'ff41' AS TEXT)"
# What a writer behind the ledger's back can store in a text column but no text reads as.
_NOT_TEXT = [
    pytest.param(_NOT_UTF8, id="not-utf8"),
    pytest.param("X'414243'", id="blob-of-utf8"),
]
# ... and in a column of integers.
_NOT_INTEGER = [
    pytest.param("'x'", id="text"),
    pytest.param("1.5", id="real"),
    pytest.param("X'01'", id="blob"),
    pytest.param(_NOT_UTF8, id="not-utf8"),
]


@pytest.fixture
def sqlite_ledger(sqlite_url: str) -> Iterator[Ledger]:
    engine = make_engine(sqlite_url)
    service = Ledger(engine, seal_key=TEST_SEAL_KEY)
    yield service
    service.close()
    engine.dispose()


@pytest.fixture
def wallets(sqlite_ledger: Ledger) -> dict[str, Account]:
    return audited_wallets_with_holds(sqlite_ledger)


def _tamper(url: str, table: str, column: str, where: str, value: str) -> None:
    """Store `value` in `column` of the row `where`, and add Rp5 to cash's cached balance."""
    with tampering(url) as conn:
        # A `kind` that is no kind is refused by its CHECK; a writer can turn checks off.
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        conn.execute(text(f"UPDATE {table} SET {column} = {value} WHERE {where}"))
        conn.execute(
            text(
                "UPDATE ledger_account SET posted_minor = posted_minor + 500 WHERE ref = 'c1:cash'"
            )
        )


def _findings_after(
    ledger: Ledger, wallets: dict[str, Account], url: str, tampered: tuple[str, str, str, str]
) -> set[tuple[str, str]]:
    """The audit's (code, subject) pairs once `tampered` is stored, with cash's balance
    tampered too (and reported)."""
    _tamper(url, *tampered)
    findings = {(f.code, f.subject) for f in ledger.verify().findings}
    cash = wallets["cash"]
    assert ("account_balance_mismatch", f"account {cash.id} ({cash.ref})") in findings
    return findings


@pytest.mark.parametrize("value", _NOT_TEXT)
@pytest.mark.parametrize(("table", "column", "where", "subject"), _TEXT_COLUMNS)
def test_text_that_does_not_read_as_text_is_a_finding_beside_the_others(
    sqlite_ledger: Ledger,
    wallets: dict[str, Account],
    sqlite_url: str,
    table: str,
    column: str,
    where: str,
    subject: _Subject,
    value: str,
) -> None:
    # Named before the tampering: the ledger's own reads cannot read the row after it.
    expected = ("text_unreadable", subject(sqlite_ledger, wallets))
    tampered = (table, column, where, value)
    assert expected in _findings_after(sqlite_ledger, wallets, sqlite_url, tampered)


@pytest.mark.parametrize("value", _NOT_INTEGER)
@pytest.mark.parametrize(("table", "column", "where", "subject"), _INTEGER_COLUMNS)
def test_an_integer_column_holding_no_integer_is_a_finding_beside_the_others(
    sqlite_ledger: Ledger,
    wallets: dict[str, Account],
    sqlite_url: str,
    table: str,
    column: str,
    where: str,
    subject: _Subject,
    value: str,
) -> None:
    expected = ("integer_unreadable", subject(sqlite_ledger, wallets))
    tampered = (table, column, where, value)
    assert expected in _findings_after(sqlite_ledger, wallets, sqlite_url, tampered)


def test_an_entry_whose_text_does_not_read_gets_no_digest_recomputed(
    sqlite_ledger: Ledger, wallets: dict[str, Account], sqlite_url: str
) -> None:
    # Stored as a blob, the digest's bytes are the same: only the storage class changed.
    digest = sqlite_ledger.entry("pay").digest
    tampered = ("ledger_entry", "digest", _PAY, f"X'{digest.encode().hex()}'")
    findings = _findings_after(sqlite_ledger, wallets, sqlite_url, tampered)
    codes = {code for code, _ in findings}
    assert ("text_unreadable", _entry("pay")(sqlite_ledger, wallets)) in findings
    assert not {"entry_digest_mismatch", "chain_hash_mismatch"} & codes


@pytest.mark.parametrize("value", _NOT_TEXT)
@pytest.mark.parametrize("next_altered", [False, True])
def test_the_link_after_one_that_does_not_read_is_still_checked(
    sqlite_ledger: Ledger,
    wallets: dict[str, Account],
    sqlite_url: str,
    value: str,
    next_altered: bool,
) -> None:
    """Position 4 is checked against the link the audit computes for position 3: intact,
    it is not reported; altered, it is, and position 5 holds against the one computed for
    it."""
    head = sqlite_ledger.verify().chain_head_hash
    with tampering(sqlite_url) as conn:
        conn.execute(text(f"UPDATE ledger_chain SET chain_hash = {value} WHERE position = 3"))
        if next_altered:
            conn.execute(
                text(f"UPDATE ledger_chain SET chain_hash = '{'0' * 64}' WHERE position = 4")
            )
    report = sqlite_ledger.verify()
    expected = [("text_unreadable", "chain position 3")]
    if next_altered:
        expected.append(("chain_hash_mismatch", "chain position 4"))
    assert [(f.code, f.subject) for f in report.findings] == expected
    assert report.chain_head_hash == head


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("min_balance_minor", "'x'"),
        ("max_balance_minor", "1.5"),
        ("kind", _NOT_UTF8),
        # Stored as a blob, the bytes are the same: only the storage class changed.
        ("ref", "X'" + b"c1:budi".hex() + "'"),
        ("terms_digest", "CAST(terms_digest AS BLOB)"),
    ],
)
def test_an_account_whose_term_does_not_read_gets_no_terms_digest_recomputed(
    sqlite_ledger: Ledger, wallets: dict[str, Account], sqlite_url: str, column: str, value: str
) -> None:
    tampered = ("ledger_account", column, _BUDI, value)
    findings = _findings_after(sqlite_ledger, wallets, sqlite_url, tampered)
    budi = wallets["budi"].id
    assert any(code.endswith("_unreadable") and f"account {budi} " in s for code, s in findings)
    terms_findings = {
        "account_terms_mismatch",
        "account_terms_unsealed",
        "account_terms_digest_missing",
    }
    assert not terms_findings & {c for c, _ in findings}


def test_audit_verify_exits_1_with_every_finding_when_a_value_cannot_be_read(
    sqlite_ledger: Ledger, wallets: dict[str, Account], sqlite_url: str
) -> None:
    _tamper(sqlite_url, "ledger_posting", "currency", _PAY_LEG_1, _NOT_UTF8)
    _tamper(sqlite_url, "ledger_posting", "amount_minor", _PAY_LEG_1, "'x'")
    status, report = audit_verify_json(sqlite_url)
    assert status == 1, report
    codes = {f["code"] for f in report["findings"]}
    assert {"text_unreadable", "integer_unreadable", "account_balance_mismatch"} <= codes


def test_seal_terms_leaves_a_listed_account_whose_term_does_not_read_unsealed(
    sqlite_ledger: Ledger, wallets: dict[str, Account], sqlite_url: str
) -> None:
    """ani and budi listed as opened before 0008, budi's overdraft stored as text: ani is
    sealed, budi stays listed without a digest (the audit reports the value), and
    `kopnet ledger seal-terms` exits 1 naming him."""
    ani, budi = wallets["ani"].id, wallets["budi"].id
    with tampering(sqlite_url) as conn:
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        for listed in (ani, budi):
            conn.execute(
                text("UPDATE ledger_account SET terms_digest = NULL WHERE id = :id"), {"id": listed}
            )
            conn.execute(
                text("INSERT INTO ledger_account_unsealed (account_id, coop_id) VALUES (:id, 1)"),
                {"id": listed},
            )
        conn.execute(text(f"UPDATE ledger_account SET min_balance_minor = 'x' WHERE {_BUDI}"))
    env = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()}
    result = invoke("ledger", "seal-terms", "--database-url", sqlite_url, env=env)
    assert result.exit_code == 1, result.output
    assert "sealed the terms of 1 accounts" in result.output
    assert f"left 1 unsealed, a stored value unreadable: {budi}" in result.output
    done = sqlite_ledger.seal_account_terms()
    assert (done.sealed, done.unreadable) == ((), (budi,))
    codes = {(f.code, f.subject) for f in sqlite_ledger.verify().findings}
    assert codes == {("integer_unreadable", f"account {budi} (c1:budi)")}
