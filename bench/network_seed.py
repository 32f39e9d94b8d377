"""A payment network for the benchmarks: services, participants, funded wallets, QR codes.

`open_services` composes the ledger, registry, payment and settlement services over a
scratch database (a benchmark may not import `api`, so it composes them itself, the way
`api.bootstrap.build` does). `seed_network` registers the network operator, publishes the
launch fee schedule, registers cooperatives with verified members and merchants through
the real `Registry`, and funds every member with one cash-in at their own cooperative
through `Payments.submit_batch`. `OffUsPurchases` makes dynamic-QR purchases from a random
member to a merchant of another cooperative, from payloads encoded once. `check_network`
seals and audits the ledger and checks every window's positions two ways.

Invariants: every registration and funding payment succeeds (seeding fails loudly
otherwise); members are verified, so a day's spending up to Rp20.000.000 is allowed;
every purchase a factory makes is off-us; nothing here reads the environment.
"""

from __future__ import annotations

import copy
import os
import platform
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import psycopg
import sqlalchemy
from sqlalchemy import Engine, func, select, text

from interchange.criteria import MerchantCriteria
from interchange.fee_defaults import launch_schedule
from interchange.merchant_qr import merchant_qr
from interchange.nik import NikVault
from interchange.payment_model import CashIn, QrPurchase
from interchange.payment_store import window_obligations
from interchange.payments import BATCH_COMMANDS_MAX, Payments
from interchange.registry import Registry
from interchange.registry_model import (
    Coop,
    CoopSpec,
    KycTier,
    Member,
    MemberSpec,
    Merchant,
    MerchantSpec,
)
from interchange.tables import payment
from interchange.window import WindowCalendar
from ledger.db import make_engine
from ledger.money import Money
from ledger.service import Ledger
from ledger.tables import account, entry
from settlement.closing import gross_positions, ledger_positions
from settlement.service import Settlement

__all__ = [
    "BENCH_SEAL_KEY",
    "CURRENCY",
    "MEMBER_FUNDING_MINOR",
    "NetworkServices",
    "OffUsPurchases",
    "SeededNetwork",
    "Stopwatch",
    "check_network",
    "machine_facts",
    "open_services",
    "rupiah",
    "seed_network",
]

BENCH_SEAL_KEY = b"kopnet-bench-seal-key"
CURRENCY = "IDR"
# The per-payment maximum: one cash-in funds a member for a benchmark's day of purchases.
MEMBER_FUNDING_MINOR = 10_000_000 * 100
# Far above what any benchmark's traffic can make a cooperative owe in one window.
NET_DEBIT_CAP_MINOR = 1_000_000_000 * 100
GROUP_COMMIT_WORKERS = 2
_REGISTRY_THREADS = 8
_FUNDING_THREADS = 2
_AUDIT_FINDINGS_SHOWN_MAX = 10
_CRITERIA = (MerchantCriteria.UKE, MerchantCriteria.UMI)


def rupiah(amount: int) -> Money:
    """Whole rupiah as IDR money."""
    return Money(amount * 100, CURRENCY)


@dataclass(frozen=True, slots=True)
class NetworkServices:
    """The services of one benchmark over one scratch database."""

    engine: Engine
    ledger: Ledger
    registry: Registry
    payments: Payments
    settlement: Settlement

    def close(self) -> None:
        """Stop the worker threads and release the connections."""
        self.payments.close()
        self.ledger.close()
        self.engine.dispose()


def open_services(url: str, *, calendar: WindowCalendar, pool_size: int = 20) -> NetworkServices:
    """Compose the services over `url` with the development NIK keys and the bench seal key."""
    assert pool_size >= 4, "two commit workers for payments and two for the ledger"
    engine = make_engine(url, pool_size=pool_size)
    ledger = Ledger(engine, seal_key=BENCH_SEAL_KEY, group_commit_workers=GROUP_COMMIT_WORKERS)
    payments = Payments(
        engine,
        ledger,
        seal_key=BENCH_SEAL_KEY,
        calendar=calendar,
        workers=GROUP_COMMIT_WORKERS,
    )
    return NetworkServices(
        engine,
        ledger,
        Registry(engine, NikVault.development(), seal_key=BENCH_SEAL_KEY),
        payments,
        Settlement(engine, ledger, seal_key=BENCH_SEAL_KEY, calendar=calendar),
    )


@dataclass(frozen=True, slots=True)
class SeededNetwork:
    """The participants of a seeded network, grouped by cooperative in registration order."""

    network: Coop
    coops: tuple[Coop, ...]
    members: tuple[tuple[Member, ...], ...]
    merchants: tuple[tuple[Merchant, ...], ...]
    funding_payments: int
    registry_s: float
    funding_s: float

    @property
    def member_count(self) -> int:
        """How many members were registered."""
        return sum(len(group) for group in self.members)

    @property
    def merchant_count(self) -> int:
        """How many merchants were registered."""
        return sum(len(group) for group in self.merchants)


def seed_network(
    services: NetworkServices, *, coops: int, members_per_coop: int, merchants_per_coop: int
) -> SeededNetwork:
    """Register the operator and `coops` cooperatives with their people; fund every member."""
    assert coops >= 2, "an off-us payment needs two cooperatives"
    assert members_per_coop >= 1 and merchants_per_coop >= 1
    clock = Stopwatch()
    registry = services.registry
    network = registry.register_coop(_coop_spec(0, is_network=True))
    services.payments.publish_schedule(launch_schedule())
    registered = tuple(registry.register_coop(_coop_spec(n)) for n in range(1, coops + 1))

    def people(index: int, coop: Coop) -> tuple[tuple[Member, ...], tuple[Merchant, ...]]:
        members = tuple(
            registry.register_member(_member_spec(coop.id, index, n))
            for n in range(members_per_coop)
        )
        merchants = tuple(
            registry.register_merchant(_merchant_spec(coop.id, index, n))
            for n in range(merchants_per_coop)
        )
        return members, merchants

    # Registrations of one cooperative lock its row: one thread per cooperative at a time.
    with ThreadPoolExecutor(max_workers=_REGISTRY_THREADS) as pool:
        groups = list(pool.map(people, range(1, coops + 1), registered))
    registry_s = clock.lap()
    members = tuple(group[0] for group in groups)
    funded = _fund(services.payments, [m for group in members for m in group])
    return SeededNetwork(
        network,
        registered,
        members,
        tuple(group[1] for group in groups),
        funded,
        round(registry_s, 3),
        round(clock.lap(), 3),
    )


def _coop_spec(index: int, *, is_network: bool = False) -> CoopSpec:
    code = "KOPNET" if is_network else f"K{index:04d}"
    return CoopSpec(
        code,
        "PT Kopnet Nusantara" if is_network else f"Koperasi Bench {index}",
        f"AHU-B{index:05d}",
        "BMRIIDJA" if is_network else "BRINIDJA",
        f"0021{index:06d}",
        f"{code} Settlement",
        0 if is_network else NET_DEBIT_CAP_MINOR,
        is_network=is_network,
    )


def _member_spec(coop_id: int, coop_index: int, n: int) -> MemberSpec:
    assert coop_index < 10_000 and n < 100_000, "NIKs and phone numbers have fixed widths"
    return MemberSpec(
        coop_id,
        f"M{n:05d}",
        f"Anggota {coop_index} {n}",
        f"0812{coop_index:04d}{n:05d}",
        f"3273{coop_index:04d}{n:08d}",
        KycTier.VERIFIED,
    )


def _merchant_spec(coop_id: int, coop_index: int, n: int) -> MerchantSpec:
    name = f"Toko {coop_index}-{n}"
    return MerchantSpec(coop_id, f"S{n:03d}", name, "Bandung", "40111", "5812", _CRITERIA[n % 2])


def _fund(payments: Payments, members: Sequence[Member]) -> int:
    """One cash-in of `MEMBER_FUNDING_MINOR` per member, in batches through the real path."""
    amount = Money(MEMBER_FUNDING_MINOR, CURRENCY)
    commands = [CashIn(f"fund-{m.id}", m.id, m.coop_id, amount) for m in members]
    size = BATCH_COMMANDS_MAX
    batches = [commands[i : i + size] for i in range(0, len(commands), size)]
    with ThreadPoolExecutor(max_workers=_FUNDING_THREADS) as pool:
        for outcomes in pool.map(payments.submit_batch, batches):
            refused = [(o.payment_id, o.code) for o in outcomes if not o.ok]
            assert not refused, f"funding was refused: {refused[:3]}"
    return len(commands)


class OffUsPurchases:
    """Dynamic-QR purchases from a random member to a merchant of another cooperative.

    Payloads are encoded once per merchant and amount, so making a purchase costs only the
    random draws and the command itself. Not thread-safe: `reseeded` gives each thread its
    own, sharing the payloads.
    """

    def __init__(
        self, network: SeededNetwork, amounts_rupiah: Sequence[int], rng: random.Random
    ) -> None:
        assert len(network.coops) >= 2 and amounts_rupiah
        self._members = network.members
        self._merchants = network.merchants
        self._rng = rng
        self._coop_index = {m.id: i for i, group in enumerate(network.merchants) for m in group}
        self._payloads = {
            merchant.id: tuple(merchant_qr(merchant, rupiah(a)) for a in amounts_rupiah)
            for group in network.merchants
            for merchant in group
        }

    def reseeded(self, rng: random.Random) -> OffUsPurchases:
        """A factory drawing from `rng` that shares this one's encoded payloads."""
        twin = copy.copy(self)
        twin._rng = rng
        return twin

    def spread(self, payment_id: str) -> QrPurchase:
        """A purchase from a random member at a random merchant of another cooperative."""
        randrange = self._rng.randrange
        payer_coop = randrange(len(self._members))
        merchant_coop = randrange(len(self._merchants) - 1)
        merchant_coop += merchant_coop >= payer_coop
        group = self._merchants[merchant_coop]
        return self._purchase(payment_id, payer_coop, group[randrange(len(group))])

    def hot(self, payment_id: str, merchant: Merchant) -> QrPurchase:
        """A purchase at `merchant` from a random member of another cooperative."""
        merchant_coop = self._coop_index[merchant.id]
        payer_coop = self._rng.randrange(len(self._members) - 1)
        payer_coop += payer_coop >= merchant_coop
        return self._purchase(payment_id, payer_coop, merchant)

    def _purchase(self, payment_id: str, payer_coop: int, merchant: Merchant) -> QrPurchase:
        payers, payloads = self._members[payer_coop], self._payloads[merchant.id]
        payer = payers[self._rng.randrange(len(payers))]
        assert payer.coop_id != merchant.coop_id, "off-us by construction"
        return QrPurchase(payment_id, payer.id, payloads[self._rng.randrange(len(payloads))])


def check_network(services: NetworkServices, *, expected_entries: int) -> dict[str, object]:
    """Seal and audit the ledger; check balances, the entry count and every window's positions.

    A window's positions are netted from its running obligations and recomputed from the
    ledger postings on the due accounts (`settlement.closing.ledger_positions`);
    `positions_match` when they agree.
    """
    clock = Stopwatch()
    sealed = services.ledger.seal()
    seal_s = clock.lap()
    report = services.ledger.verify()
    verify_s = clock.lap()
    with services.engine.connect() as conn:
        sums = _balance_sums(conn)
        recorded = conn.execute(select(func.count()).select_from(entry)).scalar_one()
        windows = _window_dates(conn)
        mismatched = [str(day) for day in windows if not _positions_agree(conn, day)]
    balanced = all(total == 0 for total in sums.values())
    intact = report.intact and balanced and recorded == expected_entries and not mismatched
    return {
        "invariants_ok": intact,
        "audit_intact": report.intact,
        "audit_findings": [f.code for f in report.findings[:_AUDIT_FINDINGS_SHOWN_MAX]],
        "balance_sums_minor": sums,
        "entries_recorded": recorded,
        "entries_expected": expected_entries,
        "entries_sealed": sealed,
        "positions_match": not mismatched,
        "windows_checked": len(windows),
        "windows_mismatched": mismatched,
        "seal_s": round(seal_s, 3),
        "verify_s": round(verify_s, 3),
        "check_s": round(clock.lap(), 3),
    }


def _balance_sums(conn: sqlalchemy.Connection) -> dict[str, int]:
    totals = select(account.c.currency, func.sum(account.c.posted_minor)).group_by(
        account.c.currency
    )
    return {currency: int(total) for currency, total in conn.execute(totals)}


def _window_dates(conn: sqlalchemy.Connection) -> list[date]:
    query = select(payment.c.window_date).where(payment.c.window_date.is_not(None)).distinct()
    return sorted(conn.execute(query).scalars())


def _positions_agree(conn: sqlalchemy.Connection, window_date: date) -> bool:
    """Net positions from the running obligations equal the ledger's recomputation."""
    netted = gross_positions(window_obligations(conn, window_date))
    from_obligations = {(r.coop_id, r.currency): r.net_minor for r in netted if r.net_minor}
    return from_obligations == ledger_positions(conn, window_date)


def machine_facts(engine: Engine) -> dict[str, object]:
    """What the figures depend on: cores, versions, the server's durability settings, load."""
    facts: dict[str, object] = {
        "cpu_count": os.cpu_count(),
        "python_version": platform.python_version(),
        "sqlalchemy_version": sqlalchemy.__version__,
        "psycopg_version": psycopg.__version__,
        "database": engine.dialect.name,
        # Other work on the machine skews every figure: a load well above zero says so.
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            facts["pg_version"] = conn.execute(text("SHOW server_version")).scalar_one()
            for name in ("synchronous_commit", "fsync", "shared_buffers", "work_mem"):
                facts[f"pg_{name}"] = conn.execute(text(f"SHOW {name}")).scalar_one()
    return facts


class Stopwatch:
    """Seconds since the last lap (or since it was made)."""

    def __init__(self) -> None:
        self._last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        return elapsed
