"""Deterministic races: another caller's whole request lands between two statements of ours.

`racing` runs `rival` to completion in another thread right after the calling thread's
`after`-th statement that `matches` (SQLAlchemy's `after_cursor_execute`), before the
calling thread goes on. The rival uses its own connection, so on PostgreSQL it commits
between our two statements; the test then checks that our request still ends well. Not
for SQLite, whose single writer would make the rival wait for us.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, event

__all__ = ["racing"]

T = TypeVar("T")
_RIVAL_TIMEOUT_S = 30.0


@contextmanager
def racing(
    engine: Engine, matches: Callable[[str], bool], rival: Callable[[], T], *, after: int = 1
) -> Iterator[list[T]]:
    """Yield the list that receives the rival's result once it has run (exactly once)."""
    me = threading.get_ident()
    seen = 0
    results: list[T] = []

    def after_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal seen
        if threading.get_ident() != me or results or not matches(statement):
            return
        seen += 1
        if seen == after:
            with ThreadPoolExecutor(max_workers=1) as other:
                results.append(other.submit(rival).result(timeout=_RIVAL_TIMEOUT_S))

    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        yield results
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
    assert results, "the rival never ran: no statement matched"
