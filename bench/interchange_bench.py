"""Benchmark of off-us QR purchases through the payment service, against the bare ledger.

`run_interchange_bench` makes a scratch database, seeds a network (`bench.network_seed`:
cooperatives with verified, funded members and merchants), and measures for `duration_s`
each, from `callers` threads calling `Payments.submit` (the group-committed path):
`offus_spread` (a random member pays a dynamic QR of a random merchant of another
cooperative: routing, fees, obligations and positions included) and `offus_hot` (every
purchase at one merchant). For the ratio the issue asks for it measures, on the same
database and with the same harness just before, the ledger's single-transfer path:
`Ledger.post` of two-leg transfers between random member wallets from `callers` threads.
Then it seals and audits the ledger, checks balances and the entry count, and checks each
window's net positions from the running obligations against the ledger's recomputation.

Invariants: requests are made before the clock starts (the load threads only submit and
time); every payment id and entry id is used once; the scratch database is always dropped.
The result is a JSON-serialisable dict.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from sqlalchemy.engine import make_url

from bench.load import Outcome, PhaseStats, cpu_per_accepted, measure, percentiles_ms
from bench.network_seed import (
    NetworkServices,
    OffUsPurchases,
    SeededNetwork,
    Stopwatch,
    check_network,
    machine_facts,
    open_services,
    seed_network,
)
from bench.seed import BENCH_DATE, CURRENCY, migrate, scratch_database
from interchange.payment_model import PaymentCommand, QrPurchase
from interchange.registry_model import Merchant
from interchange.window import WindowCalendar
from ledger.entry import EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.money import Money

__all__ = ["OFFUS_VS_LEDGER_TARGET", "run_interchange_bench"]

T = TypeVar("T")

OFFUS_VS_LEDGER_TARGET = 0.8
_PURCHASE_AMOUNTS_RUPIAH = (1_000, 2_500, 5_000, 10_000, 15_000, 25_000, 50_000)
_TRANSFER_AMOUNT_MINOR_MAX = 100
_RANDOM_SEED = 20261123
_PATHS = ("ledger_single", "offus_spread", "offus_hot")
# Pools are sized for these rates; a path faster than its ceiling runs out of requests
# before `duration_s` and is measured over the shorter time (`*_pool_exhausted` says so).
_OFFUS_RATE_CEILING_PER_S = 10_000
_LEDGER_RATE_CEILING_PER_S = 20_000


def run_interchange_bench(
    database_url: str,
    *,
    coops: int = 100,
    members_per_coop: int = 100,
    merchants_per_coop: int = 5,
    duration_s: float = 10.0,
    callers: int = 16,
) -> dict[str, object]:
    """Measure off-us purchases and the ledger's single transfers on a scratch database."""
    assert coops >= 2 and members_per_coop >= 1 and merchants_per_coop >= 1
    assert duration_s > 0 and callers >= 1
    params = _Params(coops, members_per_coop, merchants_per_coop, duration_s, callers)
    with scratch_database(database_url, "kopnet_bench") as url:
        migrate(url)
        services = open_services(url, calendar=WindowCalendar(), pool_size=callers + 4)
        try:
            result: dict[str, object] = {"params": asdict(params)}
            result["machine"] = machine_facts(services.engine)
            result["scratch_database"] = make_url(url).database
            result.update(_bench(services, params))
        finally:
            services.close()
    return result


@dataclass(frozen=True, slots=True)
class _Params:
    coops: int
    members_per_coop: int
    merchants_per_coop: int
    duration_s: float
    callers: int


def _bench(services: NetworkServices, params: _Params) -> dict[str, object]:
    clock = Stopwatch()
    network = seed_network(
        services,
        coops=params.coops,
        members_per_coop=params.members_per_coop,
        merchants_per_coop=params.merchants_per_coop,
    )
    result: dict[str, object] = {
        "seed_s": round(clock.lap(), 3),
        "seed_registry_s": network.registry_s,
        "seed_funding_s": network.funding_s,
        "members": network.member_count,
        "merchants": network.merchant_count,
    }
    rng = random.Random(_RANDOM_SEED)  # noqa: S311 - reproducible load, not security
    pools = _transfer_pools(network, rng, params.callers, params.duration_s)
    stats = measure(services.engine, _post_transfer(services), pools, params.duration_s)
    del pools
    result.update(_summary("ledger_single", stats, unit="transfers_per_s"))
    accepted = stats.ok
    purchases = OffUsPurchases(network, _PURCHASE_AMOUNTS_RUPIAH, rng)
    for name in ("offus_spread", "offus_hot"):
        commands = _purchase_pools(name, purchases, network.merchants[0][0], params)
        stats = measure(services.engine, _submit(services), commands, params.duration_s)
        del commands
        result.update(_summary(name, stats, unit="per_s"))
        accepted += stats.ok
    result["refused"] = {name: result[f"{name}_refused"] for name in _PATHS}
    result.update(_ratio(result))
    expected = network.funding_payments + accepted
    result.update(check_network(services, expected_entries=expected))
    return result


def _purchase_pools(
    name: str, purchases: OffUsPurchases, hot_merchant: Merchant, params: _Params
) -> list[list[QrPurchase]]:
    """`callers` pools of off-us purchases: at random merchants, or all at `hot_merchant`."""
    count = math.ceil(params.duration_s * _OFFUS_RATE_CEILING_PER_S / params.callers)
    hot = name == "offus_hot"
    return [
        [
            purchases.hot(f"{name}-{c}-{n}", hot_merchant)
            if hot
            else purchases.spread(f"{name}-{c}-{n}")
            for n in range(count)
        ]
        for c in range(params.callers)
    ]


def _ratio(result: dict[str, object]) -> dict[str, object]:
    offus, ledger = result["offus_spread_per_s"], result["ledger_single_transfers_per_s"]
    assert isinstance(offus, float) and isinstance(ledger, float)
    ratio = round(offus / ledger, 3) if ledger else None
    return {
        "offus_vs_ledger_single": ratio,
        "offus_vs_ledger_single_target": OFFUS_VS_LEDGER_TARGET,
        "offus_meets_target": ratio is not None and ratio >= OFFUS_VS_LEDGER_TARGET,
    }


def _transfer_pools(
    network: SeededNetwork, rng: random.Random, callers: int, duration_s: float
) -> list[list[EntryRequest]]:
    """Two-leg transfers between distinct random member wallets, `callers` pools of them."""
    wallets = [m.wallet_account_id for group in network.members for m in group]
    assert len(wallets) >= 2, "two wallets at least, to move money between"
    amounts = [
        (Money(-minor, CURRENCY), Money(minor, CURRENCY))
        for minor in range(1, _TRANSFER_AMOUNT_MINOR_MAX + 1)
    ]
    count = math.ceil(duration_s * _LEDGER_RATE_CEILING_PER_S / callers)

    def transfer(entry_id: str) -> EntryRequest:
        debit = rng.randrange(len(wallets))
        credit = rng.randrange(len(wallets) - 1)
        credit += credit >= debit
        taken, given = amounts[rng.randrange(len(amounts))]
        legs = (Leg(wallets[debit], taken), Leg(wallets[credit], given))
        return EntryRequest(entry_id=entry_id, business_date=BENCH_DATE, legs=legs)

    return [[transfer(f"bench-ledger-{c}-{n}") for n in range(count)] for c in range(callers)]


def _post_transfer(services: NetworkServices) -> Callable[[EntryRequest], Outcome]:
    ledger = services.ledger

    def call(request: EntryRequest) -> Outcome:
        try:
            ledger.post(request)
        except LedgerError as error:
            return 0, (error.code.value,)
        return 1, ()

    return call


def _submit(services: NetworkServices) -> Callable[[PaymentCommand], Outcome]:
    payments = services.payments

    def call(command: PaymentCommand) -> Outcome:
        outcome = payments.submit(command)
        if outcome.ok:
            return 1, ()
        return 0, (str(outcome.code),)

    return call


def _summary(name: str, stats: PhaseStats, *, unit: str) -> dict[str, object]:
    """Rate, counts, latencies and CPU of one path, under keys prefixed with `name`."""
    elapsed_s = max(stats.elapsed_s, 1e-9)
    p50, p99 = percentiles_ms(stats.latencies_s)
    summary: dict[str, object] = {
        f"{name}_{unit}": round(stats.ok / elapsed_s, 1),
        f"{name}_count": stats.ok,
        f"{name}_calls": len(stats.latencies_s),
        f"{name}_elapsed_s": round(stats.elapsed_s, 3),
        f"{name}_p50_ms": p50,
        f"{name}_p99_ms": p99,
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
    return summary
