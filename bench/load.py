"""The load harness every benchmark shares: worker threads, a common start, the numbers.

One thread per pool of pre-built requests calls the system under test until a deadline;
all start together on a barrier. `measure` returns what they did: accepted counts,
refusals and errors by code, call latencies, and the CPU the process and the whole
machine used meanwhile (so that a saturated machine shows in the results).
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import sqlalchemy
from sqlalchemy import Engine, text

__all__ = [
    "Clock",
    "Outcome",
    "PhaseStats",
    "Worker",
    "cpu_per_accepted",
    "measure",
    "percentiles_ms",
    "settle",
    "system_busy_s",
]

T = TypeVar("T")
# (accepted count, refusal codes) of one call.
Outcome = tuple[int, Sequence[str]]


@dataclass(slots=True)
class PhaseStats:
    """What one measured path did: accepted transfers, refusals, call latencies."""

    ok: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    exhausted: bool = False
    load_cpu_s: float = 0.0
    process_cpu_s: float = 0.0
    system_cpu_s: float | None = None


@dataclass(slots=True)
class Clock:
    """Set by the start barrier's action, once every worker is ready."""

    start: float = 0.0
    deadline: float = 0.0


class Worker(Generic[T]):
    """One load thread: calls `call` on each item of its pool until the deadline."""

    def __init__(self, call: Callable[[T], Outcome], pool: Sequence[T]) -> None:
        self.call, self.pool = call, pool
        self.stats = PhaseStats()
        self.finished_at = 0.0

    def run(self, barrier: threading.Barrier, clock: Clock) -> None:
        barrier.wait()
        cpu_started = time.thread_time()
        stats, call, latencies = self.stats, self.call, self.stats.latencies_s
        stats.exhausted = True
        for item in self.pool:
            started = time.perf_counter()
            if started >= clock.deadline:
                stats.exhausted = False
                break
            try:
                ok, refused = call(item)
            except Exception as error:  # Counted and reported, never hidden.
                stats.errors[type(error).__name__] += 1
                continue
            latencies.append(time.perf_counter() - started)
            stats.ok += ok
            stats.refused.update(refused)
        self.finished_at = time.perf_counter()
        # CPU this load thread used itself, waits excluded: what the generator costs.
        stats.load_cpu_s = time.thread_time() - cpu_started


def measure(
    engine: Engine, call: Callable[[T], Outcome], pools: Sequence[Sequence[T]], duration_s: float
) -> PhaseStats:
    """Run one worker thread per pool, all starting together, for `duration_s`."""
    settle(engine)
    clock = Clock()

    def start() -> None:
        clock.start = time.perf_counter()
        clock.deadline = clock.start + duration_s

    barrier = threading.Barrier(len(pools), action=start)
    workers = [Worker(call, pool) for pool in pools]
    threads = [threading.Thread(target=w.run, args=(barrier, clock)) for w in workers]
    # The pools are the load generator's, not the ledger's: keep them out of the
    # collector's full passes, which would otherwise add pauses to the measured latencies.
    gc.freeze()
    cpu_started, system_started = time.process_time(), system_busy_s()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.unfreeze()
    total = PhaseStats(elapsed_s=max(w.finished_at for w in workers) - clock.start)
    total.process_cpu_s = time.process_time() - cpu_started
    system_finished = system_busy_s()
    if system_started is not None and system_finished is not None:
        total.system_cpu_s = system_finished - system_started
    for worker in workers:
        total.load_cpu_s += worker.stats.load_cpu_s
        total.ok += worker.stats.ok
        total.refused.update(worker.stats.refused)
        total.errors.update(worker.stats.errors)
        total.latencies_s.extend(worker.stats.latencies_s)
        total.exhausted = total.exhausted or worker.stats.exhausted
    return total


def cpu_per_accepted(name: str, stats: PhaseStats) -> dict[str, float | None]:
    """Microseconds of CPU per accepted item, under keys prefixed with `name`: this
    process's, the whole machine's, and the rest of the machine's (the database server,
    mostly); None where not measured or nothing was accepted."""

    def each(cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not stats.ok else round(cpu_s * 1e6 / stats.ok, 1)

    system = stats.system_cpu_s
    other = None if system is None else max(0.0, system - stats.process_cpu_s)
    return {
        f"{name}_process_cpu_us_each": each(stats.process_cpu_s),
        f"{name}_system_cpu_us_each": each(system),
        f"{name}_other_cpu_us_each": each(other),
    }


def system_busy_s() -> float | None:
    """CPU seconds the whole machine has been busy (database server included); Linux only."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def settle(engine: Engine) -> None:
    """Start each path from the same state: statistics fresh, dirty pages flushed."""
    gc.collect()
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
        # Without the right to checkpoint, the run is only a little noisier.
        with contextlib.suppress(sqlalchemy.exc.DBAPIError):
            conn.execute(text("CHECKPOINT"))


def percentiles_ms(latencies_s: Sequence[float]) -> tuple[float | None, float | None]:
    if len(latencies_s) < 2:
        return None, None
    cuts = statistics.quantiles(latencies_s, n=100, method="inclusive")
    return round(cuts[49] * 1000, 3), round(cuts[98] * 1000, 3)
