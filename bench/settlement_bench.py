"""Benchmark of the night's settlement: close, recompute and report a window of a day's traffic.

`run_settlement_bench` makes a scratch database, seeds a network (`bench.network_seed`),
and records `payments` off-us dynamic-QR purchases across all cooperatives through the real
payment path, `Payments.submit_batch`, from `workers` threads in batches of `batch_size`
(`seed_payments_per_s`). Then, for the window those payments joined, it measures each step
in its own transaction: `close_s` (`close_window`: lock, mark closed, net the running
obligations into positions), `recompute_s` (`recompute_window`: every position again from
the ledger postings on the due accounts) and `report_s` (`Settlement.report` and its JSON
and CSV rendering).

The cut-off. Payments are taken with the default calendar (cut-off at local midnight), so
the whole seeding joins today's window. Once every batch has committed, the payment
service is stopped, and the window is closed with a calendar whose cut-off is the first
whole second after the last payment (the bench waits for that second to pass): an
operator moving tonight's cut-off to "now". Every recorded payment's moment lies before
the new cut-off and after the window's opening under either calendar, so the window holds
exactly the same payments under both; and with no payment service left running on the
old calendar, no payment can wait on the window it just closed. A run that crosses local
midnight makes two windows; each is closed, and the top-level figures are the larger one's.

Invariants: every payment id is used once; the scratch database is always dropped. The
result is a JSON-serialisable dict.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import make_url

from bench.network_seed import (
    NetworkServices,
    OffUsPurchases,
    SeededNetwork,
    Stopwatch,
    machine_facts,
    open_services,
    seed_network,
)
from bench.seed import migrate, scratch_database
from interchange.payments import BATCH_COMMANDS_MAX
from interchange.tables import payment
from interchange.window import DEFAULT_TIME_ZONE, WindowCalendar
from ledger.db import run_transaction
from settlement.closing import WindowSummary, close_window, recompute_window
from settlement.report_render import report_to_csv, report_to_json

__all__ = ["CLOSE_TARGET_S", "RECOMPUTE_TARGET_S", "run_settlement_bench"]

T = TypeVar("T")

CLOSE_TARGET_S = 1.0
RECOMPUTE_TARGET_S = 10.0
_PURCHASE_AMOUNTS_RUPIAH = (1_000, 2_000, 5_000, 10_000, 20_000)
_RANDOM_SEED = 20261124
_ACTOR = "bench-night-job"
_DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class _Params:
    coops: int
    members_per_coop: int
    merchants_per_coop: int
    payments: int
    batch_size: int
    workers: int


def run_settlement_bench(
    database_url: str,
    *,
    coops: int = 100,
    payments: int = 1_000_000,
    batch_size: int = BATCH_COMMANDS_MAX,
    workers: int = 2,
    members_per_coop: int = 50,
    merchants_per_coop: int = 2,
) -> dict[str, object]:
    """Seed a day of off-us payments on a scratch database; time close, recompute, report."""
    assert coops >= 2 and members_per_coop >= 1 and merchants_per_coop >= 1
    assert payments >= 1 and 1 <= batch_size <= BATCH_COMMANDS_MAX and workers >= 1
    params = _Params(coops, members_per_coop, merchants_per_coop, payments, batch_size, workers)
    with scratch_database(database_url, "kopnet_bench") as url:
        migrate(url)
        result: dict[str, object] = {"params": asdict(params)}
        result["scratch_database"] = make_url(url).database
        services = open_services(url, calendar=WindowCalendar(), pool_size=workers + 8)
        try:
            result["machine"] = machine_facts(services.engine)
            windows = _seed(services, params, result)
        finally:
            services.close()
        closing = _closing_calendar()
        result["closing_cutoff_s"] = closing.cutoff_s
        closer = open_services(url, calendar=closing, pool_size=4)
        try:
            result.update(_night(closer, windows))
        finally:
            closer.close()
    return result


def _seed(services: NetworkServices, params: _Params, result: dict[str, object]) -> Counter[date]:
    """Seed the network and the day's payments; return how many payments each window got."""
    clock = Stopwatch()
    network = seed_network(
        services,
        coops=params.coops,
        members_per_coop=params.members_per_coop,
        merchants_per_coop=params.merchants_per_coop,
    )
    result.update(
        seed_network_s=round(clock.lap(), 3),
        members=network.member_count,
        merchants=network.merchant_count,
        funding_payments=network.funding_payments,
    )
    accepted, refused, windows = _pay(services, network, params)
    seed_s = clock.lap()
    result.update(
        seed_payments_s=round(seed_s, 3),
        seed_payments_per_s=round(accepted / seed_s, 1),
        payments_accepted=accepted,
        payments_refused=dict(refused),
    )
    return windows


def _pay(
    services: NetworkServices, network: SeededNetwork, params: _Params
) -> tuple[int, Counter[str], Counter[date]]:
    """Submit `params.payments` off-us purchases in batches from `params.workers` threads."""
    purchases = OffUsPurchases(network, _PURCHASE_AMOUNTS_RUPIAH, random.Random(_RANDOM_SEED))  # noqa: S311
    batches = math.ceil(params.payments / params.batch_size)

    def batch(index: int) -> tuple[int, Counter[str], Counter[date]]:
        # Each batch draws from its own seed: the same run makes the same payments.
        own = purchases.reseeded(random.Random(_RANDOM_SEED * 1_000_003 + index))  # noqa: S311
        start = index * params.batch_size
        stop = min(start + params.batch_size, params.payments)
        commands = [own.spread(f"night-{n}") for n in range(start, stop)]
        refused: Counter[str] = Counter()
        windows: Counter[date] = Counter()
        for outcome in services.payments.submit_batch(commands):
            if outcome.payment is None or outcome.payment.window_date is None:
                refused[str(outcome.code)] += 1
            else:
                windows[outcome.payment.window_date] += 1
        return sum(windows.values()), refused, windows

    accepted, refused, windows = 0, Counter[str](), Counter[date]()
    with ThreadPoolExecutor(max_workers=params.workers) as pool:
        for ok, no, where in pool.map(batch, range(batches)):
            accepted += ok
            refused.update(no)
            windows.update(where)
    return accepted, refused, windows


def _closing_calendar(time_zone: str = DEFAULT_TIME_ZONE) -> WindowCalendar:
    """A calendar whose cut-off is the next whole second of today, once that has passed."""
    now = datetime.now(ZoneInfo(time_zone))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    cutoff_s = min(_DAY_S, max(1, math.ceil((now - midnight).total_seconds())))
    calendar = WindowCalendar(time_zone, cutoff_s)
    wait_s = (calendar.cutoff_at(now.date()) - datetime.now(UTC)).total_seconds()
    if wait_s > 0:
        time.sleep(wait_s + 0.01)
    return calendar


@dataclass(frozen=True, slots=True)
class _WindowNight:
    """What closing, recomputing and reporting one window took and found."""

    window_date: str
    window_payments: int
    newly_closed: bool
    obligation_count: int
    position_count: int
    positions_sum_zero: bool
    recompute_ok: bool
    close_s: float
    recompute_s: float
    report_s: float
    report_build_s: float
    report_render_s: float
    report_bilateral_lines: int
    report_json_bytes: int
    report_csv_bytes: int


def _night(services: NetworkServices, windows: Counter[date]) -> dict[str, object]:
    """Close, recompute and report every window, oldest first; the largest one on top."""
    nights = [_close_one(services, day) for day in sorted(windows)]
    main = max(nights, key=lambda night: windows[date.fromisoformat(night.window_date)])
    return {
        **asdict(main),
        "windows": [asdict(night) for night in nights],
        "close_target_s": CLOSE_TARGET_S,
        "recompute_target_s": RECOMPUTE_TARGET_S,
        "close_meets_target": main.close_s < CLOSE_TARGET_S,
        "recompute_meets_target": main.recompute_s < RECOMPUTE_TARGET_S,
        "invariants_ok": all(n.recompute_ok and n.positions_sum_zero for n in nights),
    }


def _close_one(services: NetworkServices, day: date) -> _WindowNight:
    engine, settlement = services.engine, services.settlement
    calendar = settlement.calendar
    summary, close_s = _timed(
        lambda: run_transaction(
            engine, lambda conn: close_window(conn, day, actor=_ACTOR, calendar=calendar)
        )
    )
    ok, recompute_s = _timed(
        lambda: run_transaction(engine, lambda conn: recompute_window(conn, day, actor=_ACTOR))
    )
    report, build_s = _timed(lambda: settlement.report(day))
    (as_json, as_csv), render_s = _timed(lambda: (report_to_json(report), report_to_csv(report)))
    with engine.connect() as conn:
        window_payments = _window_payments(conn, day)
    return _WindowNight(
        window_date=day.isoformat(),
        window_payments=window_payments,
        newly_closed=summary.newly_closed,
        obligation_count=summary.obligation_count,
        position_count=len(summary.positions),
        positions_sum_zero=_sums_to_zero(summary),
        recompute_ok=ok and settlement.summary(day).recompute_ok is True,
        close_s=round(close_s, 3),
        recompute_s=round(recompute_s, 3),
        report_s=round(build_s + render_s, 3),
        report_build_s=round(build_s, 3),
        report_render_s=round(render_s, 3),
        report_bilateral_lines=len(report.bilateral),
        report_json_bytes=len(as_json.encode()),
        report_csv_bytes=len(as_csv.encode()),
    )


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = work()
    return value, time.perf_counter() - started


def _sums_to_zero(summary: WindowSummary) -> bool:
    currencies = {p.currency for p in summary.positions}
    return all(
        sum(p.net_minor for p in summary.positions if p.currency == currency) == 0
        for currency in currencies
    )


def _window_payments(conn: Connection, day: date) -> int:
    query = select(func.count()).select_from(payment).where(payment.c.window_date == day)
    return int(conn.execute(query).scalar_one())
