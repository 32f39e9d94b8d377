"""Group commit: many callers' requests share one database transaction.

Callers submit units (one request, or a linked group that must stay together) and wait on
a future. A worker thread takes every unit queued at that moment, up to `batch_size_max`
requests, and hands them to the batch handler in one call, so while one transaction
commits the next batch is already queuing; a unit that would take the batch past the limit
starts the same worker's next batch. If a whole batch fails with an unexpected error,
each unit is retried alone so that one bad unit cannot fail its neighbours.

No global lock: several workers (and several processes, each with its own committer) may
run batches at once; the handler's row locks order them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["GroupCommitter"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Unit(Generic[T, R]):
    items: Sequence[T]
    future: Future[list[R]]


class GroupCommitter(Generic[T, R]):
    """Batches submitted units for `handle`, which returns one result per item, in order."""

    def __init__(
        self,
        handle: Callable[[Sequence[T]], Sequence[R]],
        *,
        batch_size_max: int,
        workers: int = 2,
        name: str = "group-commit",
    ) -> None:
        assert batch_size_max >= 1 and workers >= 1
        self._handle = handle
        self._batch_size_max = batch_size_max
        # SimpleQueue (C) hands a unit over with less CPU than Queue's Python conditions.
        self._queue: queue.SimpleQueue[_Unit[T, R] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, items: Sequence[T]) -> Future[list[R]]:
        """Queue `items` to be handled together in one batch; the future gives their results."""
        assert 1 <= len(items) <= self._batch_size_max
        future: Future[list[R]] = Future()
        self._queue.put(_Unit(items, future))
        return future

    def close(self) -> None:
        """Stop the workers after the units already queued are handled."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        carried: _Unit[T, R] | None = None
        while True:
            first = carried if carried is not None else self._queue.get()
            if first is None:
                return
            units, carried, stop = self._drain(first)
            self._run(units)
            if stop:
                return

    def _drain(self, first: _Unit[T, R]) -> tuple[list[_Unit[T, R]], _Unit[T, R] | None, bool]:
        """The units for one batch, starting with `first`; the unit that did not fit, which
        this worker runs next (put back in the queue, it could land behind `close`'s stop
        markers, or be passed over again and again); and whether a stop marker was taken."""
        units, size = [first], len(first.items)
        while size < self._batch_size_max:
            try:
                unit = self._queue.get_nowait()
            except queue.Empty:
                break
            if unit is None:
                return units, None, True
            if size + len(unit.items) > self._batch_size_max:
                return units, unit, False
            units.append(unit)
            size += len(unit.items)
        return units, None, False

    def _run(self, units: list[_Unit[T, R]]) -> None:
        items = [item for unit in units for item in unit.items]
        try:
            results = list(self._handle(items))
        except Exception as error:
            if len(units) == 1:
                units[0].future.set_exception(error)
                return
            for unit in units:
                self._run([unit])
            return
        assert len(results) == len(items), "the handler returns one result per item"
        start = 0
        for unit in units:
            unit.future.set_result(results[start : start + len(unit.items)])
            start += len(unit.items)
