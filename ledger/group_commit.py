"""Group commit: many callers' requests share one database transaction.

Callers submit units (one request, or a linked group that must stay together) and wait for
their `Answer`. A worker thread takes every unit queued at that moment, up to `batch_size_max`
requests, and hands them to the batch handler in one call, so while one transaction
commits the next batch is already queuing; a unit that would take the batch past the
limit starts the next batch. If a whole batch fails with an unexpected error, each unit is
retried alone so that one bad unit cannot fail its neighbours.

A batch that fails on a lock (`lock_wait_timeout`: a row one of its units needs stayed
locked by another transaction past `lock_timeout`) is such a failure: its units are run
alone, in order, so a unit that touches no locked row is still recorded, and one that does
fails alone with `lock_wait_timeout`. A caller's wait is then bounded: its batch's wait,
the waits of the units before its own in that batch that touch a locked row, and its own
unit's; never past its answer wait (`answer_within`).

Relay: the worker holding the next units starts its batch when every batch of this
committer in flight started `overlap_after_s` ago or more (or none is in flight).
Normally one batch runs at a time and the next takes every unit that queued meanwhile:
larger batches, less CPU per request, and no batch of ours waiting on the row locks of
the one before it (one hot account). A batch held up for longer (a row lock of another
transaction, a window being closed) holds up the rest once, for `overlap_after_s`: then
the next worker starts beside it, and the batches after run one at a time beside it,
up to `workers` at once. Units leave the queue, and batches take their turn, in the
order the units came.

Linger: a batch that finds fewer items queued than the last batch took waits up to
`linger_s` for more. Under a steady load the callers one batch answered come back for
the next within a moment; waiting for them keeps the batches full, where without it the
next batch starts with the first few back and the rest wait for the one after it. For the
relay a batch is in flight from when it leaves the queue, its linger over.

No global lock: the relay orders one committer's batches, in one process; other
processes, each with its own committer, run theirs at the same time, and the handler's
row locks order them.

A caller waits for its unit's answer a bounded time (`answer_within`); past it the call
is `outcome_unknown`, while the unit stays queued and is handled as any other.

Coalescing: a unit submitted with a `key` (the ledger's entry ids, a payment's id) while a
unit with that key and identical items (`identical`: equal, and of the same types all the
way down) is still queued or in flight waits for that unit's answer instead of being
queued again. So a caller that got `outcome_unknown` and sends its
request again learns what became of the first copy: a second copy could otherwise be
refused (funds short at that moment) while the first, still queued, is recorded later,
and the caller told "refused" for a request that was recorded. Retries do not pile up
copies in the queue either. A key leaves the pending units just before its unit is
answered, so a unit submitted after that is queued afresh. Only this process's units are
coalesced: another process's copy in flight is not seen.

Closing: `close` lets the workers handle every unit queued before it, then stops them. A
unit submitted once `close` has begun is refused at once (`service_closed`): nothing was
or will be recorded. One lock orders the two, so every unit is either queued ahead of the
workers' stop markers, and answered, or refused; none is left waiting.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Generic, TypeVar, cast

from ledger.errors import LedgerError, LedgerErrorCode

__all__ = [
    "ANSWER_WAIT_S_DEFAULT",
    "ANSWER_WAIT_S_MAX",
    "Answer",
    "GroupCommitter",
    "answer_within",
    "identical",
]

T = TypeVar("T")
R = TypeVar("R")


# Waits are bounded; a committer that should never overlap batches has one worker.
_OVERLAP_AFTER_S_MAX = 3600.0
_LINGER_S_MAX = 1.0
# How long a caller waits for its unit's answer, by default and at most.
ANSWER_WAIT_S_DEFAULT = 60.0
ANSWER_WAIT_S_MAX = 3600.0


class Answer(Generic[R]):
    """A unit's answer, given once by a worker: the handler's results for it, or the error
    the handler raised. A caller waits on one lock, which giving the answer releases: a
    hand-over that costs both threads less than a `concurrent.futures.Future`'s condition.
    Any number of callers may wait for one answer."""

    __slots__ = ("_error", "_given", "_released", "_value")

    def __init__(self) -> None:
        self._released = threading.Lock()
        self._released.acquire()
        self._given = False
        self._value: R | None = None
        self._error: BaseException | None = None

    def give(self, value: R) -> None:
        """Give the results; the callers waiting are let go."""
        self._value = value
        self._let_go()

    def fail(self, error: BaseException) -> None:
        """Give the handler's error instead; the callers waiting are let go."""
        self._error = error
        self._let_go()

    def _let_go(self) -> None:
        self._given = True
        self._released.release()

    def wait(self, timeout_s: float) -> bool:
        """Whether the answer was given within `timeout_s` (0: without waiting)."""
        if self._given:
            return True
        if self._released.acquire(timeout=max(0.0, timeout_s)):
            # Passed on at once: each waiter takes the lock and lets the next one have it.
            self._released.release()
        return self._given

    def value(self) -> R:
        """The results, once given; the handler's error is raised instead."""
        if not self._given:
            raise RuntimeError("the answer is not given yet: wait for it first")
        if self._error is not None:
            raise self._error
        return cast(R, self._value)


def answer_within(answer: Answer[R], timeout_s: float, *, wait_s: float) -> R:
    """The unit's results, waited for at most `timeout_s` (what is left of the caller's
    `wait_s`); after that `outcome_unknown`: the unit stays queued and may yet be
    recorded, and the caller sends it again with the same id. An error the handler raised
    is raised as it is, even a `TimeoutError`."""
    if not answer.wait(timeout_s):
        raise LedgerError(
            LedgerErrorCode.OUTCOME_UNKNOWN,
            f"no answer within {wait_s:g} s: the request may yet be recorded;"
            " send it again with the same id",
        )
    return answer.value()


def identical(a: object, b: object) -> bool:
    """Whether `a` and `b` are equal and of the same types all the way down, through
    dataclasses, lists, tuples and dicts (in order): `True` is not `1`, `1.0` is not `1`, an
    enum member is not its text. A copy that is only equal may be a different request to
    its handler (`True` fails where `1` passes); one spelt differently (another key order)
    is not coalesced, and the handler decides."""
    if type(a) is not type(b):
        return False
    if is_dataclass(a) and not isinstance(a, type):
        return all(identical(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping)
        return len(a) == len(b) and identical(list(a.items()), list(b.items()))
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(map(identical, a, b))
    return a == b


@dataclass(slots=True)
class _Unit(Generic[T, R]):
    items: Sequence[T]
    answer: Answer[list[R]]
    # What a copy of this unit is submitted with (`GroupCommitter.submit`), or None.
    key: Hashable | None = None


class GroupCommitter(Generic[T, R]):
    """Batches submitted units for `handle`, which returns one result per item, in order."""

    def __init__(
        self,
        handle: Callable[[Sequence[T]], Sequence[R]],
        *,
        batch_size_max: int,
        workers: int = 2,
        overlap_after_s: float = 0.05,
        linger_s: float = 0.001,
        name: str = "group-commit",
    ) -> None:
        assert batch_size_max >= 1 and workers >= 1
        assert 0 <= overlap_after_s <= _OVERLAP_AFTER_S_MAX
        assert 0 <= linger_s <= _LINGER_S_MAX
        self._handle = handle
        self._batch_size_max = batch_size_max
        self._overlap_after_s = overlap_after_s
        self._linger_s = linger_s
        # How many items the last batch took: the next lingers until it has as many.
        self._last_size = 1
        self._collecting = threading.Lock()
        # The unit that did not fit the last batch drained: the next batch starts with it.
        self._carried: _Unit[T, R] | None = None
        # The relay: when each batch in flight started, in order.
        self._turn = threading.Condition(threading.Lock())
        self._in_flight: list[float] = []
        # SimpleQueue (C) hands a unit over with less CPU than Queue's Python conditions.
        self._queue: queue.SimpleQueue[_Unit[T, R] | None] = queue.SimpleQueue()
        # Held while a unit is queued and while `close` queues the stop markers: a unit
        # either lands before the markers or sees `_closed`.
        self._admitting = threading.Lock()
        self._closed = False
        # The keyed units queued or in flight, by key (guarded by `_admitting`).
        self._pending: dict[Hashable, _Unit[T, R]] = {}
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, items: Sequence[T], *, key: Hashable | None = None) -> Answer[list[R]]:
        """Queue `items` to be handled together in one batch; the answer gives their results.
        With a `key`, the answer of a unit with that key and identical items still queued or
        in flight, if there is one (coalescing): nothing more is queued. Once `close` has
        begun, `service_closed` instead: nothing is queued or recorded."""
        assert 1 <= len(items) <= self._batch_size_max
        with self._admitting:
            if self._closed:
                raise LedgerError(
                    LedgerErrorCode.SERVICE_CLOSED,
                    "the service is closed: nothing was recorded, and nothing will be",
                )
            pending = None if key is None else self._pending.get(key)
            if pending is not None and identical(pending.items, items):
                return pending.answer
            unit: _Unit[T, R] = _Unit(items, Answer(), key)
            if key is not None and pending is None:
                self._pending[key] = unit
            self._queue.put(unit)
        return unit.answer

    def close(self) -> None:
        """Refuse new units, and stop the workers after the units already queued are
        handled. Closing again only waits for the workers."""
        with self._admitting:
            markers = 0 if self._closed else len(self._threads)
            self._closed = True
            for _ in range(markers):
                self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            started: float | None = None
            try:
                # One worker at a time collects: units leave the queue, and batches take
                # their turn, in the order the units came.
                with self._collecting:
                    first = self._carried if self._carried is not None else self._queue.get()
                    self._carried = None
                    if first is None:
                        return
                    self._wait_for_turn()
                    units, self._carried, stop = self._drain(first)
                    started = self._start_turn()
                self._run(units)
            finally:
                if started is not None:
                    self._end_turn(started)
            if stop:
                return

    def _wait_for_turn(self) -> None:
        """Block until every batch in flight started `overlap_after_s` ago or more."""
        with self._turn:
            while self._in_flight:
                wait_s = self._in_flight[-1] + self._overlap_after_s - time.monotonic()
                if wait_s <= 0:
                    break
                self._turn.wait(wait_s)

    def _start_turn(self) -> float:
        """Count this worker's batch as in flight from now, when it leaves the queue (its
        linger is not time the batches after it wait out); return when it started. No
        other batch can start between the wait and this: the worker still collects."""
        with self._turn:
            started = time.monotonic()
            self._in_flight.append(started)
            return started

    def _end_turn(self, started: float) -> None:
        """Count the batch that started at `started` as no longer in flight."""
        with self._turn:
            self._in_flight.remove(started)
            self._turn.notify()

    def _drain(self, first: _Unit[T, R]) -> tuple[list[_Unit[T, R]], _Unit[T, R] | None, bool]:
        """The units for one batch, starting with `first` and lingering for more while
        it has fewer items than the last; the unit that did not fit, which the next batch
        starts with (not put back in the queue, where it could land behind `close`'s stop
        markers, or be passed over again and again); and whether a stop marker was taken."""
        units, size = [first], len(first.items)
        carried, stop = None, False
        deadline = time.monotonic() + self._linger_s
        while size < self._batch_size_max:
            try:
                if size < self._last_size:
                    unit = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                else:
                    unit = self._queue.get_nowait()
            except queue.Empty:
                break
            if unit is None:
                stop = True
                break
            if size + len(unit.items) > self._batch_size_max:
                carried = unit
                break
            units.append(unit)
            size += len(unit.items)
        self._last_size = size
        return units, carried, stop

    def _run(self, units: list[_Unit[T, R]]) -> None:
        try:
            self._answer(units)
        except BaseException as error:
            # The worker stops (an interrupt, an exit): its callers learn why, now.
            unanswered = [unit for unit in units if not unit.answer.wait(0)]
            self._forget(unanswered)
            for unit in unanswered:
                unit.answer.fail(error)
            raise

    def _answer(self, units: list[_Unit[T, R]]) -> None:
        items = [item for unit in units for item in unit.items]
        try:
            results = list(self._handle(items))
            assert len(results) == len(items), "the handler returns one result per item"
        except Exception as error:
            if len(units) == 1:
                self._forget(units)
                units[0].answer.fail(error)
                return
            for unit in units:
                self._answer([unit])
            return
        self._forget(units)
        start = 0
        for unit in units:
            unit.answer.give(results[start : start + len(unit.items)])
            start += len(unit.items)

    def _forget(self, units: Sequence[_Unit[T, R]]) -> None:
        """Take `units` off the pending units before they are answered, under one hold of
        the admitting lock for the batch: a copy submitted from now on is queued."""
        keyed = [unit for unit in units if unit.key is not None]
        if not keyed:
            return
        with self._admitting:
            for unit in keyed:
                if self._pending.get(unit.key) is unit:
                    del self._pending[unit.key]
