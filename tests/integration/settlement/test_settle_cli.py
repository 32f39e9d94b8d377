"""`kopnet settle` with arguments it must refuse: window dates no window can have, malformed
actors, amounts, currencies and bank references, references that are unknown or not UTF-8,
a report written to a missing folder, a round started or a report asked for before the
network operator exists.

Each prints `{"error": code, ...}` and exits 2, never a traceback (README "Commands",
api/cli_settle.py).
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli import assert_refused_with, assert_refused_with_a_code, error_code
from tests.cli import invoke as invoke_kopnet
from tests.conftest import TEST_SEAL_KEY
from tests.integration.settlement.night import close_now, last_due_window
from tests.network import network_on
from tests.unit.settlement.test_camt053 import sample


def invoke(*args: str) -> Result:
    """`kopnet` with the tests' sealing key, the one `network_on` wrote the network with
    (another key is refused as `seal_key_mismatch` before any command runs)."""
    return invoke_kopnet(*args, env={"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()})


def test_cli_close_of_a_far_future_window_exits_2_with_a_code(sqlite_url: str) -> None:
    """`kopnet settle close --date 9999-12-31` prints `window_date_invalid` and exits 2,
    not an OverflowError traceback."""
    with network_on(sqlite_url):
        pass
    result = invoke("settle", "close", "--date", "9999-12-31", "--database-url", sqlite_url)
    assert error_code(result) == "window_date_invalid"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("settle", "close", "--date", "2024-02-30"), "date_invalid"),
        (("settle", "close", "--date", "yesterday"), "date_invalid"),
        (("settle", "close", "--date", "20200101"), "date_invalid"),
        (("settle", "close", "--date", "2020-W01-3"), "date_invalid"),
        (("settle", "close", "--date", "2020-01-01", "--actor", "a b"), "actor_invalid"),
        (("settle", "close", "--date", "2020-01-01", "--actor", "x" * 10_000), "actor_invalid"),
        (("settle", "start", "--date", "2020-01-02"), "window_not_closed"),
        (("settle", "abort", "--date", "2020-01-02"), "window_not_settling"),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B1", "--amount", "1e999"),
            "amount_invalid",
        ),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B1", "--amount", "9" * 20),
            "amount_too_large",
        ),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B1", "--amount", "NaN"),
            "amount_invalid",
        ),
        (
            (
                "settle",
                "confirm",
                "KN1",
                "--bank-reference",
                "B1",
                "--amount",
                "1",
                "--currency",
                "X",
            ),
            "currency_unknown",
        ),
        (
            ("settle", "confirm", "R" * 5_000, "--bank-reference", "B1", "--amount", "1.00"),
            "instruction_not_found",
        ),
        (
            ("settle", "confirm", "KN1", "--bank-reference", "B\n1", "--amount", "1.00"),
            "bank_reference_invalid",
        ),
        (("settle", "report", "--date", "2020-01-02"), "window_not_closed"),
    ],
)
def test_cli_settle_commands_refuse_hostile_arguments_with_a_code(
    sqlite_url: str, args: tuple[str, ...], code: str
) -> None:
    with network_on(sqlite_url):
        pass
    assert error_code(invoke(*args, "--database-url", sqlite_url)) == code


def test_settle_confirm_does_not_echo_an_oversized_reference(sqlite_url: str) -> None:
    with network_on(sqlite_url):
        pass
    reference = "R" * 100_000
    args = ("settle", "confirm", reference, "--bank-reference", "B1", "--amount", "1.00")
    result = invoke(*args, "--database-url", sqlite_url)
    assert error_code(result) == "instruction_not_found"
    assert len(result.output) < 500, len(result.output)


def test_settle_reconcile_of_a_window_never_closed_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    """As `settle report` is: a window still open has no payments to match, so a
    statement is not reported as all unmatched (exit 1) but refused (exit 2)."""
    with network_on(sqlite_url):
        pass
    statement = tmp_path / "statement.csv"
    header = "booking_date,direction,amount,currency,reference,bank_reference,counterparty"
    rows = ["2020-01-02,opening,0.00,IDR,ACC-1,,", "2020-01-02,closing,0.00,IDR,ACC-1,,"]
    statement.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    args = ("settle", "reconcile", str(statement), "--date", "2020-01-02")
    assert error_code(invoke(*args, "--database-url", sqlite_url)) == "window_not_closed"


def test_settle_confirm_of_a_reference_that_is_not_utf8_exits_2_with_a_code(
    sqlite_url: str,
) -> None:
    """A reference from a non-UTF-8 command line (Python passes it as a lone surrogate) is
    refused with a code, not a UnicodeEncodeError from the database driver."""
    result = invoke(
        "settle",
        "confirm",
        "KN\udcff1",
        "--bank-reference",
        "B1",
        "--amount",
        "1.00",
        "--database-url",
        sqlite_url,
    )
    assert_refused_with_a_code(result)


def test_cli_report_to_a_missing_folder_exits_2_with_a_code(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`kopnet settle report --out DIR/missing/report.json` prints `file_invalid` and
    exits 2, like `reconcile` and `fees publish`, not a FileNotFoundError traceback."""
    with network_on(sqlite_url, cutoff_s=1) as net:
        window_date = last_due_window(net)
        close_now(net, window_date)
    target = tmp_path / "missing" / "report.json"
    result = invoke(
        "settle",
        "report",
        "--date",
        window_date.isoformat(),
        "--out",
        str(target),
        "--database-url",
        sqlite_url,
    )
    assert error_code(result) == "file_invalid"


@pytest.mark.parametrize("step", ["start", "report"])
def test_settle_start_or_report_before_the_network_operator_is_registered_is_refused(
    tmp_path: Path, step: str
) -> None:
    """`settle start` or `settle report` of a window closed (empty) on a database without
    the network operator is `network_not_registered`, exit 2, as the README names it, not
    an AssertionError traceback (exit 1)."""
    url = f"sqlite:///{tmp_path / 'no-network.db'}"
    assert invoke("db", "upgrade", "--database-url", url).exit_code == 0
    closed = invoke("settle", "close", "--date", "2026-11-23", "--database-url", url)
    assert closed.exit_code == 0, closed.output
    result = invoke("settle", step, "--date", "2026-11-23", "--database-url", url)
    assert_refused_with(result, "network_not_registered")


def test_settle_reconcile_reads_a_camt053_statement_that_starts_with_a_byte_order_mark(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Some banks' exports start with a UTF-8 byte order mark: the statement is still read
    as camt.053 (here refused only because the window was never closed), not sniffed as
    CSV and refused `statement_format_unsupported`."""
    statement = tmp_path / "statement.xml"
    statement.write_bytes(codecs.BOM_UTF8 + sample("001.08").encode("utf-8"))
    args = ("settle", "reconcile", str(statement), "--date", "2020-01-02")
    assert error_code(invoke(*args, "--database-url", sqlite_url)) == "window_not_closed"


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "args",
    [
        ("settle", "reconcile", "/proc/self/mem", "--date", "2020-01-02"),
        ("fees", "publish", "/proc/self/mem"),
    ],
)
def test_a_file_that_fails_to_read_is_file_invalid(sqlite_url: str, args: tuple[str, ...]) -> None:
    """A read that fails (an I/O error; a file gone or a network mount failing between the
    check and the read takes the same path) is `file_invalid`, exit 2, not a traceback."""
    assert error_code(invoke(*args, "--database-url", sqlite_url)) == "file_invalid"
