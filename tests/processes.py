"""Running a function in several spawned processes that start their work together.

Nothing is shared between the processes but what the function opens itself (a database):
each call gets its own interpreter. `wait_for_the_others` is the common start line.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_in_processes", "wait_for_the_others"]

R = TypeVar("R")

_start: Any = None


def _init_process(start: Any) -> None:
    # A barrier reaches a worker process only through its initializer.
    global _start
    _start = start


def wait_for_the_others(timeout_s: float) -> None:
    """In a worker process: return once every process of the run has called this."""
    _start.wait(timeout=timeout_s)


def run_in_processes(
    work: Callable[..., R], args_per_process: Sequence[tuple[Any, ...]], timeout_s: float
) -> list[R]:
    """Call `work(*args)` in one spawned process per argument tuple; their results, in order.

    `work` must be importable by name and call `wait_for_the_others` before its work."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(args_per_process))
    with ProcessPoolExecutor(
        len(args_per_process), mp_context=context, initializer=_init_process, initargs=(start,)
    ) as pool:
        futures = [pool.submit(work, *args) for args in args_per_process]
        return [future.result(timeout=timeout_s) for future in futures]
