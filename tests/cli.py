"""Running the `kopnet` command line in tests, and reading how it refused.

The command line's promise (api/cli.py, api/cli_support.py): exit 0 on success, 1 only when
a check found a problem, 2 on bad input with `{"error": code, ...}` printed; never a
traceback. These helpers check that promise so tests can name the code they expect.
"""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from api.cli import app
from tests.conftest import TEST_SEAL_KEY

__all__ = [
    "assert_no_traceback",
    "assert_refused_with",
    "assert_refused_with_a_code",
    "audit_verify_json",
    "error_code",
    "invoke",
]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run `kopnet` with `args` (and `env` added to the environment), catching exceptions."""
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=True)


def assert_no_traceback(result: Result) -> None:
    """The command ended with an exit status (of any value), not an exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}"
    )


def assert_refused_with_a_code(result: Result) -> None:
    """Exit 2 with an error code printed, not a traceback (exit 1 means 'tampered')."""
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    assert '"error"' in result.output, result.output


def assert_refused_with(result: Result, code: str) -> None:
    """Exit 2 with this error code printed, not a traceback."""
    assert_refused_with_a_code(result)
    assert f'"error": "{code}"' in result.output, result.output


def error_code(result: Result) -> str:
    """The code of a refusal (exit 2, no traceback) whose whole output is its JSON."""
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    return str(json.loads(result.output)["error"])


def audit_verify_json(db_url: str, *options: str) -> tuple[int, dict[str, Any]]:
    """`kopnet audit verify --json` on `db_url` with the tests' sealing key: its exit
    status and its report, never a traceback."""
    result = invoke(
        "audit",
        "verify",
        "--json",
        "--database-url",
        db_url,
        *options,
        env={"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()},
    )
    assert_no_traceback(result)
    report: dict[str, Any] = json.loads(result.output)
    return result.exit_code, report
