"""The demo's day: who takes part, what they do, and the table of what happened.

The network operator and three cooperatives, their members and merchants. Members cash in
at their own and other cooperatives' counters, buy from merchants of their own and other
cooperatives by static and dynamic QR (with a tip), have purchases authorized and captured
or voided, cash out, send money across cooperatives, and get refunds; a few attempts are
refused (over the per-payment limit, more than the wallet holds). The summary shows what
happened, and each cooperative's fee income and net position. Fixed seeds: the same names
and the same commands every run.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.bootstrap import Services
from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import MerchantCriteria
from interchange.merchant_qr import merchant_qr
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.registry_model import (
    Coop,
    CoopSpec,
    KycTier,
    Member,
    MemberSpec,
    Merchant,
    MerchantSpec,
)
from ledger.money import Money

__all__ = ["Network", "print_day", "register", "run_day"]

_COOPS = [
    CoopSpec(
        "KSM",
        "Koperasi Sejahtera Makmur",
        "AHU-0002.AH.01.26",
        "BRINIDJA",
        "0021000111",
        "KSM Settlement",
        2_000_000_000,
    ),
    CoopSpec(
        "KTM",
        "KSP Tani Maju",
        "AHU-0003.AH.01.26",
        "BNINIDJA",
        "0021000222",
        "KTM Settlement",
        2_000_000_000,
    ),
    CoopSpec(
        "KNB",
        "Kopkar Nelayan Bahari",
        "AHU-0004.AH.01.26",
        "BMRIIDJA",
        "0021000333",
        "KNB Settlement",
        50_000_000,
    ),
]
_NETWORK = CoopSpec(
    "KOPNET",
    "PT Kopnet Nusantara",
    "AHU-0001.AH.01.26",
    "BMRIIDJA",
    "0021000000",
    "Kopnet Settlement",
    0,
    is_network=True,
)
_FIRST = ["Siti", "Budi", "Dewi", "Agus", "Rina", "Joko", "Ayu", "Made", "Wayan", "Nur"]
_LAST = ["Aminah", "Santoso", "Lestari", "Wijaya", "Hidayat", "Pratama", "Kusuma", "Saputra"]
_SHOPS = [
    ("Warung Bu Siti", "5812", MerchantCriteria.UMI),
    ("Ojek Pak Joko", "4121", MerchantCriteria.UMI),
    ("Toko Koperasi", "5411", MerchantCriteria.UKE),
]


def _rupiah(amount: int) -> Money:
    return Money(amount * 100, "IDR")


@dataclass(frozen=True, slots=True)
class Network:
    """The participants the demo registers: the operator, the cooperatives, their members
    and merchants."""

    network: Coop
    coops: list[Coop]
    members: list[Member]
    merchants: list[Merchant]


def register(services: Services) -> Network:
    """Register the operator, the cooperatives, their members and merchants; publish the
    launch fee schedule."""
    registry = services.registry
    network = registry.register_coop(_NETWORK)
    coops = [registry.register_coop(spec) for spec in _COOPS]
    services.payments.publish_schedule(launch_schedule())
    rng = random.Random(7)  # noqa: S311 - demo names, not security
    members = []
    for coop in coops:
        for n in range(1, 11):
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            nik = f"3273{coop.id:02d}{n:010d}"
            tier = KycTier.VERIFIED if n % 3 else KycTier.BASIC
            members.append(
                registry.register_member(
                    MemberSpec(
                        coop.id,
                        f"{coop.code}-{n:04d}",
                        name,
                        f"08123{coop.id:02d}{n:05d}",
                        nik,
                        tier,
                    )
                )
            )
    merchants = [
        registry.register_merchant(
            MerchantSpec(coop.id, f"M{n}", name, "Bandung", "40111", mcc, criteria)
        )
        for coop in coops
        for n, (name, mcc, criteria) in enumerate(_SHOPS, start=1)
    ]
    return Network(network, coops, members, merchants)


def _commands(world: Network, rng: random.Random) -> Iterator[tuple[str, PaymentCommand]]:
    for n, member in enumerate(world.members):
        counter = rng.choice(world.coops)
        yield (
            "cash-in",
            CashIn(f"ci-{n}", member.id, counter.id, _rupiah(rng.randrange(5, 15) * 100_000)),
        )
    for n in range(240):
        member, shop = rng.choice(world.members), rng.choice(world.merchants)
        price = _rupiah(rng.randrange(2, 80) * 1_000)
        if n % 3 == 0:
            yield (
                "purchase (dynamic QR)",
                QrPurchase(f"qr-{n}", member.id, merchant_qr(shop, price)),
            )
        else:
            yield "purchase (static QR)", QrPurchase(f"qr-{n}", member.id, merchant_qr(shop), price)
    for n in range(30):
        member, shop = rng.choice(world.members), rng.choice(world.merchants)
        yield "authorization", Authorize(f"au-{n}", member.id, merchant_qr(shop), _rupiah(50_000))
        if n % 3 == 0:
            yield "void", Void(f"vd-{n}", f"au-{n}")
        else:
            yield "capture", Capture(f"cp-{n}", f"au-{n}", _rupiah(50_000 - 10_000 * (n % 2)))
    for n in range(40):
        payer, payee = rng.sample(world.members, 2)
        yield (
            "transfer",
            Transfer(f"tr-{n}", payer.id, payee.id, _rupiah(rng.randrange(1, 20) * 5_000)),
        )
    for n in range(30):
        member, counter = rng.choice(world.members), rng.choice(world.coops)
        yield (
            "cash-out",
            CashOut(f"co-{n}", member.id, counter.id, _rupiah(rng.randrange(1, 5) * 20_000)),
        )
    for n in range(0, 240, 24):
        yield "refund", Refund(f"rf-{n}", f"qr-{n}", _rupiah(1_000))
    first, shop = world.members[0], world.merchants[-1]
    yield (
        "over-limit attempt",
        QrPurchase("big-1", first.id, merchant_qr(shop), _rupiah(10_000_001)),
    )
    yield "overdraw attempt", Transfer("big-2", first.id, world.members[1].id, _rupiah(9_000_000))


def run_day(services: Services, world: Network) -> tuple[Counter[str], date]:
    """Submit the day's commands; what happened, counted by label (refusals by code), and
    the earliest business date a payment was booked on."""
    rng = random.Random(20261123)  # noqa: S311 - a demo's fixed seed, not security
    counts: Counter[str] = Counter()
    windows: Counter[date] = Counter()
    for label, command in _commands(world, rng):
        outcome = services.payments.submit(command)
        if outcome.ok and outcome.payment is not None:
            counts[label] += 1
            windows[outcome.payment.business_date] += 1
        else:
            counts[f"refused: {outcome.code}"] += 1
    window_date = min(windows)
    return counts, window_date


def print_day(services: Services, world: Network, counts: Counter[str], console: Console) -> None:
    """Print the day's traffic, and each cooperative's fee income and what it owes the
    network."""
    table = Table(title="The day's traffic")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, count in sorted(counts.items()):
        table.add_row(label, str(count))
    console.print(table)
    fees = Table(title="Fee income and what each cooperative owes the network (IDR)")
    for column in ("cooperative", "fee income", "owes the network (+) / is owed (-)"):
        fees.add_column(column, justify="left" if column == "cooperative" else "right")
    everyone = [world.network, *world.coops]
    for coop in everyone:
        if coop.is_network:
            # The network's fee income and dues sit on its accounts for each participant.
            income = _total(services, [p.network_fee_account_id for p in everyone])
            due = _total(services, [p.network_due_account_id for p in everyone])
        else:
            income = services.ledger.account(coop.fee_account_id).posted
            due = services.ledger.account(coop.due_account_id).posted
        # Names are shown as given: escaped, so markup in a name is printed, never applied.
        fees.add_row(escape(f"{coop.code} {coop.legal_name}"), income.format(), due.format())
    console.print(fees)


def _total(services: Services, account_ids: list[int]) -> Money:
    """The sum of the accounts' posted balances (at least one account)."""
    first, *rest = (services.ledger.account(account_id).posted for account_id in account_ids)
    return sum(rest, first)
