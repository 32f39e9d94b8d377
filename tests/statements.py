"""What our code sends through SQLAlchemy: each such statement is a round trip of its own,
while the statements psycopg's pipelines send (`ledger.db.pipelined`) bypass SQLAlchemy
and share one."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

_OUR_PACKAGES = frozenset({"interchange", "ledger"})


@contextmanager
def statements_sent_by(engine: Engine, packages: frozenset[str]) -> Iterator[list[str]]:
    """Yield a list that collects, until the block ends, every statement sent through
    `engine` by a module of `packages` (the innermost frame of ours on the stack decides,
    whatever tables the statement reads)."""
    seen: list[str] = []
    assert packages <= _OUR_PACKAGES

    def listen(*args: Any) -> None:
        if _sender_package() in packages:
            seen.append(args[2])

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _sender_package() -> str | None:
    """The package (`interchange` or `ledger`) of the module of the innermost frame of ours
    on the stack."""
    frame = inspect.currentframe()
    while frame is not None:
        package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if package in _OUR_PACKAGES:
            return package
        frame = frame.f_back
    return None
