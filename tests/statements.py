"""What our code sends through SQLAlchemy: each such statement is a round trip of its own,
while the statements psycopg's pipelines send (`ledger.db.pipelined`) bypass SQLAlchemy
and share one; and how many round trips a connection made, read off libpq's trace of the
protocol."""

from __future__ import annotations

import inspect
import itertools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from psycopg import pq
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


@contextmanager
def round_trips_through(engine: Engine) -> Iterator[list[int]]:
    """Yield a list that gets, for each connection of `engine` (PostgreSQL) checked out
    and back in during the block, its round trips: how many times the client, having sent,
    read what the server answered (in libpq's trace, a run of the client's messages
    followed by the server's). Answers larger than the server's output buffer (8 kB) come
    in parts between which the client may send again: count small statements only."""
    trips: list[int] = []
    traces: dict[int, tuple[Any, IO[str]]] = {}

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        trace = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by `stop`
        traces[id(dbapi_connection)] = (dbapi_connection, trace)
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def stop(dbapi_connection: Any, trace: IO[str]) -> list[str]:
        if not dbapi_connection.closed:
            dbapi_connection.pgconn.untrace()
        with trace:
            trace.seek(0)
            return [line.partition("\t")[0] for line in trace]

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        traced = traces.pop(id(dbapi_connection), None)
        if traced is not None:
            senders = stop(*traced)
            trips.append(sum(1 for pair in itertools.pairwise(senders) if pair == ("F", "B")))

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    try:
        yield trips
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine.pool, "checkin", checkin)
        for traced in traces.values():  # connections still out, or invalidated
            stop(*traced)
