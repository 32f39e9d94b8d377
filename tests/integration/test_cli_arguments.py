"""Arguments and input files the command line refuses: a file that is not UTF-8 text, and
benchmark options no run can have (no cooperatives, a negative, NaN or infinite duration).

Each is refused with exit 2 and the error's code printed, never a traceback (README
"Commands", api/cli_support.py). The `settle` commands' arguments are tested in
`tests/integration/settlement/test_settle_cli.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import assert_refused_with_a_code, invoke


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
