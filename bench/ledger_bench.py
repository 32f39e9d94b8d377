"""Benchmark of the ledger's write paths, compared with the server's own pgbench figure.

`run_ledger_bench` makes a scratch database, seeds cooperatives with funded wallets, and
measures three paths of the real `Ledger` for `duration_s` each: single transfers through
`Ledger.post` from `callers` threads between random wallets; the same with every transfer
crediting one merchant wallet (one hot row); and `Ledger.post_batch` of `batch_size`
random transfers from two threads. Then it seals and audits the ledger and checks that
balances sum to zero and that exactly the accepted transfers were recorded.

Invariants: requests are generated before the clock starts (the load generator only
submits and times); each entry id is used once; the scratch databases are always dropped.
The result is a JSON-serialisable dict.
"""

from __future__ import annotations

import math
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TypeVar

import psycopg
import sqlalchemy
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.load import Outcome, PhaseStats, cpu_per_accepted, measure, percentiles_ms
from bench.pgbench import pgbench_path, run_pgbench
from bench.seed import (
    BENCH_DATE,
    CURRENCY,
    NO_METADATA,
    SeededLedger,
    check_books,
    is_sqlite,
    migrate,
    scratch_database,
    seed_ledger,
)
from ledger.db import make_engine
from ledger.entry import EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.money import Money
from ledger.service import Ledger

__all__ = ["pgbench_ratios", "run_ledger_bench"]

T = TypeVar("T")

_SEAL_KEY = b"kopnet-bench-seal-key"
_BATCH_THREADS = 2
_AMOUNT_MINOR_MAX = 100
_RANDOM_SEED = 20261123
# Pools are sized for these rates; a path faster than its ceiling runs out of requests
# before `duration_s` and is measured over the shorter time (`*_pool_exhausted` says so).
_SINGLE_RATE_CEILING_PER_S = 20_000
_BATCH_RATE_CEILING_PER_S = 60_000
# The targets, as multiples of pgbench's tps on the same server.
_TARGETS = {"single": 1.0, "hot": 0.8, "batch": 10.0}


def run_ledger_bench(
    database_url: str,
    *,
    coops: int = 100,
    wallets_per_coop: int = 1000,
    duration_s: float = 10.0,
    callers: int = 16,
    batch_size: int = 1000,
    with_pgbench: bool = True,
) -> dict[str, object]:
    """Measure the ledger on a scratch database of the server at `database_url`."""
    assert coops >= 1 and wallets_per_coop >= 2, "two wallets at least, to move money between"
    assert duration_s > 0 and callers >= 1 and batch_size >= 1
    params = {
        "coops": coops,
        "wallets_per_coop": wallets_per_coop,
        "duration_s": duration_s,
        "callers": callers,
        "batch_size": batch_size,
        "batch_threads": _BATCH_THREADS,
    }
    with scratch_database(database_url, "kopnet_bench") as url:
        migrate(url)
        result = _bench_scratch(url, params)
        result["scratch_database"] = make_url(url).database
    result.update(_compare_with_pgbench(database_url, result, with_pgbench=with_pgbench))
    return result


def _bench_scratch(url: str, params: dict[str, int | float]) -> dict[str, object]:
    engine = make_engine(url, pool_size=int(params["callers"]) + _BATCH_THREADS + 2)
    ledger = Ledger(engine, seal_key=_SEAL_KEY)
    try:
        result: dict[str, object] = {"params": params, "machine": _machine_facts(engine)}
        started = time.perf_counter()
        seeded = seed_ledger(
            ledger,
            seal_key=_SEAL_KEY,
            coops=int(params["coops"]),
            wallets_per_coop=int(params["wallets_per_coop"]),
        )
        result["seed_s"] = round(time.perf_counter() - started, 3)
        accepted = _run_paths(ledger, seeded, params, result)
        result.update(check_books(ledger, expected_entries=seeded.funding_entries + accepted))
        return result
    finally:
        ledger.close()
        engine.dispose()


def _run_paths(
    ledger: Ledger, seeded: SeededLedger, params: dict[str, int | float], result: dict[str, object]
) -> int:
    """Measure the three paths into `result`; return how many transfers they recorded."""
    callers, batch_size = int(params["callers"]), int(params["batch_size"])
    duration_s = float(params["duration_s"])
    factory = _TransferFactory(seeded, random.Random(_RANDOM_SEED))  # noqa: S311 - reproducible load
    per_caller = math.ceil(duration_s * _SINGLE_RATE_CEILING_PER_S / callers)
    accepted = 0
    for name in ("single", "hot"):
        pools = [
            factory.transfers(f"{name}{c}", per_caller, hot=name == "hot") for c in range(callers)
        ]
        stats = measure(ledger.engine, _post_one(ledger), pools, duration_s)
        del pools
        result.update(_phase_summary(name, stats, committer=True))
        accepted += stats.ok
    per_thread = math.ceil(duration_s * _BATCH_RATE_CEILING_PER_S / (batch_size * _BATCH_THREADS))
    batches = [factory.batches(f"batch{t}", per_thread, batch_size) for t in range(_BATCH_THREADS)]
    stats = measure(ledger.engine, _post_many(ledger), batches, duration_s)
    del batches
    result.update(_phase_summary("batch", stats, committer=False))
    result["p50_ms"], result["p99_ms"] = result["single_p50_ms"], result["single_p99_ms"]
    return accepted + stats.ok


class _TransferFactory:
    """Pre-generated two-leg transfers between distinct random wallets."""

    def __init__(self, seeded: SeededLedger, rng: random.Random) -> None:
        self._wallets = seeded.wallet_ids
        self._merchant_id = seeded.merchant_id
        self._rng = rng
        # Shared amounts: generating a pool allocates only ids, legs and requests.
        self._amounts = [
            (Money(-minor, CURRENCY), Money(minor, CURRENCY))
            for minor in range(1, _AMOUNT_MINOR_MAX + 1)
        ]

    def transfers(self, prefix: str, count: int, *, hot: bool = False) -> list[EntryRequest]:
        """`count` transfers with ids `bench-<prefix>-<n>`; `hot` credits the merchant."""
        return [self._transfer(f"bench-{prefix}-{n}", hot) for n in range(count)]

    def batches(self, prefix: str, count: int, size: int) -> list[list[EntryRequest]]:
        """`count` batches of `size` random transfers."""
        return [self.transfers(f"{prefix}-{b}", size) for b in range(count)]

    def _transfer(self, entry_id: str, hot: bool) -> EntryRequest:
        wallets, randrange = self._wallets, self._rng.randrange
        debit = randrange(len(wallets))
        if hot:
            credit_id = self._merchant_id
        else:
            credit = randrange(len(wallets) - 1)
            credit_id = wallets[credit + 1 if credit >= debit else credit]
        taken, given = self._amounts[randrange(_AMOUNT_MINOR_MAX)]
        return EntryRequest(
            entry_id=entry_id,
            business_date=BENCH_DATE,
            legs=(Leg(wallets[debit], taken), Leg(credit_id, given)),
            metadata=NO_METADATA,
        )


def _post_one(ledger: Ledger) -> Callable[[EntryRequest], Outcome]:
    def call(request: EntryRequest) -> Outcome:
        try:
            ledger.post(request)
        except LedgerError as error:
            return 0, [error.code.value]
        return 1, []

    return call


def _post_many(ledger: Ledger) -> Callable[[list[EntryRequest]], Outcome]:
    def call(requests: list[EntryRequest]) -> Outcome:
        outcomes = ledger.post_batch(requests)
        refused = [o.code for o in outcomes if o.code is not None]
        return len(outcomes) - len(refused), refused

    return call


def _phase_summary(name: str, stats: PhaseStats, *, committer: bool) -> dict[str, object]:
    """Rates, counts and CPU of one path; latencies and load CPU for the paths whose load
    threads only submit and wait (through the group committer)."""
    elapsed_s = max(stats.elapsed_s, 1e-9)
    rate = stats.ok / elapsed_s
    summary: dict[str, object] = {
        f"{name}_transfers_per_s": round(rate, 1),
        f"{name}_count": stats.ok,
        f"{name}_calls": len(stats.latencies_s),
        f"{name}_elapsed_s": round(stats.elapsed_s, 3),
        f"{name}_refused": dict(stats.refused),
        f"{name}_errors": dict(stats.errors),
        f"{name}_pool_exhausted": stats.exhausted,
        # Cores' worth of CPU used during the run: by this process, and by the machine.
        f"{name}_process_cpu_cores": round(stats.process_cpu_s / elapsed_s, 3),
        f"{name}_system_cpu_cores": (
            None if stats.system_cpu_s is None else round(stats.system_cpu_s / elapsed_s, 3)
        ),
    }
    summary.update(cpu_per_accepted(name, stats))
    if committer:
        p50, p99 = percentiles_ms(stats.latencies_s)
        summary.update({f"{name}_p50_ms": p50, f"{name}_p99_ms": p99})
        summary[f"{name}_load_cpu_cores"] = round(stats.load_cpu_s / elapsed_s, 3)
    return summary


def _machine_facts(engine: Engine) -> dict[str, object]:
    facts: dict[str, object] = {
        "cpu_count": os.cpu_count(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlalchemy_version": sqlalchemy.__version__,
        "psycopg_version": psycopg.__version__,
        "database": engine.dialect.name,
        # Other work on the machine skews every figure: a load well above zero says so.
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            facts["pg_version"] = conn.execute(text("SHOW server_version")).scalar_one()
            names = ("synchronous_commit", "fsync", "shared_buffers", "max_connections")
            for name in names:
                facts[f"pg_{name}"] = conn.execute(text(f"SHOW {name}")).scalar_one()
        else:
            facts["sqlite_version"] = conn.execute(text("select sqlite_version()")).scalar_one()
    return facts


def _compare_with_pgbench(
    server_url: str, result: dict[str, object], *, with_pgbench: bool
) -> dict[str, object]:
    """pgbench's tps on the same server and each path's ratio to it (None when not run)."""
    comparison: dict[str, object] = {
        "pgbench_tps": None,
        "pgbench": None,
        "pgbench_skipped": None,
        **{f"{path}_vs_pgbench": None for path in _TARGETS},
        **{f"{path}_cpu_budget_us_per_transfer": None for path in _TARGETS},
    }
    if not with_pgbench:
        comparison["pgbench_skipped"] = "with_pgbench=False"
    elif is_sqlite(server_url):
        comparison["pgbench_skipped"] = "not a PostgreSQL server"
    elif pgbench_path() is None:
        comparison["pgbench_skipped"] = "pgbench is not on PATH"
    else:
        run = run_pgbench(server_url)
        comparison.update(pgbench_tps=run.tps, pgbench=asdict(run))
        if run.tps:
            cores = len(os.sched_getaffinity(0))
            comparison.update(pgbench_ratios(result, run.tps, cores=cores))
    return comparison


def pgbench_ratios(result: dict[str, object], tps: float, *, cores: int) -> dict[str, float]:
    """Each path's rate as a multiple of pgbench's `tps`, and its CPU budget: the most CPU,
    in microseconds of the whole machine's `cores`, one transfer may cost for the path to
    reach its target multiple of `tps` with every core busy. Compare it with the path's
    `*_system_cpu_us_each` (the whole machine's CPU a transfer took), not the process's."""
    assert tps > 0 and cores >= 1
    ratios: dict[str, float] = {}
    for path, target in _TARGETS.items():
        rate = result[f"{path}_transfers_per_s"]
        assert isinstance(rate, float)
        ratios[f"{path}_vs_pgbench"] = round(rate / tps, 3)
        ratios[f"{path}_cpu_budget_us_per_transfer"] = round(cores * 1e6 / (target * tps), 1)
    return ratios
