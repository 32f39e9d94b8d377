"""Arguments and input files the command line refuses: a file that is not UTF-8 text,
benchmark options no run can have (no cooperatives, a negative, NaN or infinite duration),
and what the argument parser itself refuses (`argument_invalid`, api/cli_usage.py).

Each is refused with exit 2 and the error's code printed, never a traceback (README
"Commands", api/cli_support.py). The `settle` commands' arguments are tested in
`tests/integration/settlement/test_settle_cli.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import assert_refused_with, assert_refused_with_a_code, invoke


def test_fees_publish_of_a_file_that_is_not_utf8_exits_2_with_a_code(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`fees publish` of a file that is not UTF-8 text is refused with a code (as
    `settle reconcile` does), not a UnicodeDecodeError traceback."""
    schedule = tmp_path / "schedule.json"
    schedule.write_bytes(b'\xff\xfe{"version": 1}')
    assert_refused_with_a_code(
        invoke("fees", "publish", str(schedule), "--database-url", sqlite_url)
    )


@pytest.mark.parametrize(
    "args",
    [
        ("ledger", "--coops", "0"),
        ("ledger", "--wallets-per-coop", "1"),
        ("ledger", "--duration-s", "-1"),
        ("ledger", "--duration-s", "nan"),
        ("ledger", "--coops", "1", "--wallets-per-coop", "2", "--duration-s", "inf"),
        ("interchange", "--coops", "1"),
        ("interchange", "--duration-s", "0"),
        ("settlement", "--coops", "1"),
        ("settlement", "--payments", "0"),
    ],
    ids=" ".join,
)
def test_bench_commands_with_nonsense_parameters_exit_2_with_a_code(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    """Benchmark options are command-line input: zero cooperatives, a negative, NaN or
    infinite duration are refused with a code, not an AssertionError/OverflowError."""
    kind, *options = args
    result = invoke(
        "bench",
        kind,
        "--database-url",
        f"sqlite:///{tmp_path / 'bench.db'}",
        *options,
        *(["--no-pgbench"] if kind == "ledger" else []),
    )
    assert_refused_with_a_code(result)


@pytest.mark.parametrize(
    "args",
    [
        ("settle", "start", "--date", "2026-12-01", "--mode", "foo"),
        ("settle", "report", "--date", "2026-12-01", "--format", "xml"),
        ("settle", "confirm", "REF", "--amount", "409325.20"),
        ("qr", "render", "PAYLOAD", "--scale", "0"),
        ("qr", "decode"),
        ("bench", "ledger", "--coops", "abc"),
        ("audit", "verify", "--no-such-option"),
        ("no-such-command",),
    ],
    ids=" ".join,
)
def test_usage_errors_exit_2_with_the_argument_invalid_code(args: tuple[str, ...]) -> None:
    """What the argument parser refuses (a value outside its choices, a missing option, an
    unknown command) is printed as every refusal is, on stdout, not in Typer's box."""
    result = invoke(*args)
    assert_refused_with(result, "argument_invalid")
    assert json.loads(result.stdout)["message"], result.stdout


def test_a_group_without_a_command_prints_its_help_and_exits_2() -> None:
    result = invoke("settle")
    assert result.exit_code == 2, result.output
    assert "close" in result.output and '"error"' not in result.output


def test_help_and_a_commands_own_status_pass_through() -> None:
    assert invoke("--help").exit_code == 0
    assert invoke("qr", "decode", "000201").exit_code == 2
