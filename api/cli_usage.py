"""Command-line usage errors refused like every other bad input: with a code.

Typer reports an unknown option, a missing argument or a value its type refuses (an
`--mode` outside its choices, `--coops abc`) in a box of its own on stderr. `CodedGroup`,
the root command group's class, prints them as every refusal is printed instead:
`{"error": "argument_invalid", "message": ...}` on stdout, exit 2, nothing changed. A group
called without a command still prints its help (exit 2). Every other outcome (a command's
own exit status, `--help`, an interrupt) is left as Typer leaves it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from api.cli_support import REFUSED_EXIT, print_refusal

__all__ = ["ARGUMENT_INVALID", "CodedGroup"]

ARGUMENT_INVALID = "argument_invalid"


class CodedGroup(TyperGroup):
    """A Typer command group whose usage errors are printed as coded refusals."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line as Typer does, but refuse a usage error with its code and
        exit 2. Called by a caller that handles outcomes itself (`standalone_mode` off),
        it is Typer's own."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            status = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except typer.TyperException as error:
            _refuse(error)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        # Off standalone mode Typer returns a command's return value (None here) or the
        # status of the `typer.Exit` it raised.
        sys.exit(status if isinstance(status, int) else 0)


def _refuse(error: typer.TyperException) -> None:
    """Print `error` as a coded refusal and exit 2. A group called without a command has
    printed its help already (Typer renders it as it raises): that exits 2 as it is. The
    error is known by its class's name, as Typer's own error printer knows it: Typer keeps
    the class in a private module."""
    if type(error).__name__ != "NoArgsIsHelpError":
        print_refusal(ARGUMENT_INVALID, error.format_message())
    sys.exit(REFUSED_EXIT)
