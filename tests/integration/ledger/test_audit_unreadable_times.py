"""The audit, on both engines, when a stored time or date cannot be read back.

Behind the ledger's back a writer can store a time the driver cannot decode: PostgreSQL
takes 'infinity' or a year past 9999 in a `timestamptz` or a `date`, SQLite any text, a
number or bytes. The audit reads every time and date in a raw form (`ledger.stored_times`)
and reports such a value as `timestamp_unreadable` or `date_unreadable`, with every other
finding of the same pass; on SQLite its time-form check (`timestamp_form_invalid`) runs
too. `kopnet audit verify` exits 1 (tampered), never with a traceback.

Ledger used throughout (amounts in rupiah):
  fund  cash -> ani   100   ani #1 = 100
  pay   ani  -> budi   40   ani #2 =  60, budi #1 = 40
  hold  ani  -> budi   10   pending, for 600 s
Alongside the time, each tampering adds Rp5 to cash's cached balance:
`account_balance_mismatch` must be reported as well.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from ledger.account import Account
from ledger.entry import EntryKind
from ledger.service import Ledger
from tests.builders import idr, open_wallets, post_sealed, transfer
from tests.cli import audit_verify_json
from tests.integration.ledger.raw import tampering

# A value each engine stores but its driver cannot read back as a time or a date.
_INFINITY_OR_GARBAGE = {"postgresql": "'infinity'", "sqlite": "'garbage'"}
# More of them, for every column: SQLite stores digits written to a date or time column as
# an integer (and a number with a point as a real), which its driver cannot read, although
# the digits as text would read as a day.
_NOT_TIMES = [
    pytest.param(_INFINITY_OR_GARBAGE, id="infinity-or-garbage"),
    pytest.param(
        {"postgresql": "'99999-01-01'", "sqlite": "'20261123'"}, id="year-99999-or-digits"
    ),
    pytest.param(
        {"postgresql": "'-infinity'", "sqlite": "20261123.5"}, id="minus-infinity-or-real"
    ),
]
_UNREADABLE = [
    pytest.param(_INFINITY_OR_GARBAGE, id="infinity-or-garbage"),
    pytest.param({"postgresql": "'-infinity'", "sqlite": "0"}, id="minus-infinity-or-integer"),
    pytest.param(
        {"postgresql": "'10000-06-01'", "sqlite": "CAST(x'ff' AS TEXT)"},
        id="year-10000-or-not-utf8",
    ),
    pytest.param({"postgresql": "'0044-03-15 BC'", "sqlite": "x'0102'"}, id="bc-or-blob"),
]

_Subject = Callable[[Ledger, dict[str, Account]], str]


def _entry(entry_id: str) -> _Subject:
    return lambda ledger, _: f"entry {entry_id} (seq {ledger.entry(entry_id).seq})"


def _first_posting_of(entry_id: str) -> _Subject:
    return lambda ledger, _: f"posting 1 of entry seq {ledger.entry(entry_id).seq}"


def _account(name: str) -> _Subject:
    return lambda _, wallets: f"account {wallets[name].id} ({wallets[name].ref})"


# (table, column, which row, the finding and its subject); `sealed_at` is read by nothing.
_COLUMNS = [
    ("ledger_entry", "committed_at", "entry_id = 'pay'", "timestamp_unreadable", _entry("pay")),
    ("ledger_entry", "business_date", "entry_id = 'pay'", "date_unreadable", _entry("pay")),
    ("ledger_entry", "expires_at", "entry_id = 'hold'", "timestamp_unreadable", _entry("hold")),
    (
        "ledger_posting",
        "committed_at",
        "leg_no = 1 AND entry_seq = (SELECT seq FROM ledger_entry WHERE entry_id = 'pay')",
        "timestamp_unreadable",
        _first_posting_of("pay"),
    ),
    ("ledger_account", "created_at", "ref = 'c1:budi'", "timestamp_unreadable", _account("budi")),
    ("ledger_chain", "sealed_at", "position = 1", None, None),
]
# The columns SQLite's time-form check covers.
_FORM_CHECKED = {("ledger_entry", "committed_at"), ("ledger_entry", "expires_at")} | {
    ("ledger_posting", "committed_at")
}


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    a = open_wallets(ledger, "ani", "budi")
    return post_sealed(
        ledger,
        a,
        transfer("fund", a["cash"], a["ani"], idr(100)),
        transfer("pay", a["ani"], a["budi"], idr(40)),
        transfer("hold", a["ani"], a["budi"], idr(10), kind=EntryKind.PENDING, timeout_s=600),
    )


def _tamper(db_url: str, table: str, column: str, where: str, value: str) -> None:
    """Store `value` in `column` of the row `where`, and add Rp5 to cash's cached balance."""
    with tampering(db_url) as conn:
        conn.execute(text(f"UPDATE {table} SET {column} = {value} WHERE {where}"))
        conn.execute(
            text(
                "UPDATE ledger_account SET posted_minor = posted_minor + 500 WHERE ref = 'c1:cash'"
            )
        )


@pytest.mark.parametrize("values", _NOT_TIMES)
@pytest.mark.parametrize(("table", "column", "where", "code", "subject"), _COLUMNS)
def test_a_time_or_date_the_driver_cannot_read_is_a_finding_beside_the_others(
    ledger: Ledger,
    wallets: dict[str, Account],
    db_url: str,
    table: str,
    column: str,
    where: str,
    code: str | None,
    subject: _Subject | None,
    values: dict[str, str],
) -> None:
    dialect = ledger.engine.dialect.name
    # Named before the tampering: the ledger's own reads cannot read the row after it.
    expected = set() if subject is None else {(code, subject(ledger, wallets))}
    _tamper(db_url, table, column, where, values[dialect])
    findings = {(f.code, f.subject) for f in ledger.verify().findings}
    cash = wallets["cash"]
    assert ("account_balance_mismatch", f"account {cash.id} ({cash.ref})") in findings
    assert expected <= findings
    if dialect == "sqlite" and (table, column) in _FORM_CHECKED:
        assert "timestamp_form_invalid" in {c for c, _ in findings}


@pytest.mark.parametrize("values", _UNREADABLE)
@pytest.mark.parametrize(
    ("column", "code"),
    [("committed_at", "timestamp_unreadable"), ("business_date", "date_unreadable")],
)
def test_every_form_of_unreadable_commit_time_or_business_date_is_reported(
    ledger: Ledger,
    wallets: dict[str, Account],
    db_url: str,
    column: str,
    code: str,
    values: dict[str, str],
) -> None:
    _tamper(db_url, "ledger_entry", column, "entry_id = 'pay'", values[ledger.engine.dialect.name])
    codes = {f.code for f in ledger.verify().findings}
    assert {code, "account_balance_mismatch"} <= codes


def test_audit_verify_exits_1_with_every_finding_when_a_time_cannot_be_read(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    dialect = ledger.engine.dialect.name
    _tamper(
        db_url, "ledger_entry", "committed_at", "entry_id = 'pay'", _INFINITY_OR_GARBAGE[dialect]
    )
    status, report = audit_verify_json(db_url)
    assert status == 1, report
    codes = {f["code"] for f in report["findings"]}
    assert {"timestamp_unreadable", "account_balance_mismatch"} <= codes
