"""`kopnet demo`: a day of activity on a fresh database, then the integrity check.

Three cooperatives, their members and merchants; members cash in, pay merchants, send
money, place and capture holds; one over-limit payment is refused. The summary shows what
was posted, balances per cooperative and the audit result. Deterministic: a fixed seed.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from api.bootstrap import Services, build, migrate
from api.settings import Settings
from ledger.account import Account, AccountKind, AccountSpec
from ledger.entry import EntryKind, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.money import Money

__all__ = ["run_demo"]

_COOPS = {1: "Koperasi Sejahtera Makmur", 2: "KSP Tani Maju", 3: "Kopkar Nelayan Bahari"}
_DAY = date(2026, 11, 23)


def _rupiah(amount: int) -> Money:
    return Money(amount * 100, "IDR")


def run_demo(database_url: str | None, console: Console) -> bool:
    """Run the demo and print its summary; return whether the ledger audit is intact."""
    workdir = None
    if database_url is None:
        workdir = tempfile.mkdtemp(prefix="kopnet-demo-")
        database_url = f"sqlite:///{Path(workdir) / 'kopnet-demo.db'}"
    settings = Settings(database_url=database_url)
    migrate(settings)
    services = build(settings)
    try:
        counts = _run_day(services, console)
        services.ledger.seal()
        report = services.ledger.verify()
        _print_summary(services, counts, console)
        status = "[green]intact[/green]" if report.intact else "[red]NOT intact[/red]"
        console.print(f"integrity check: {status} ({report.entries_checked} entries, "
                      f"{report.postings_checked} postings, chain head "
                      f"{report.chain_head_hash[:16]}…)")
        console.print(f"database: {database_url}")
        return report.intact
    finally:
        services.close()


def _open(services: Services) -> dict[str, Account]:
    ledger, accounts = services.ledger, {}
    for coop_id in _COOPS:
        accounts[f"{coop_id}:cash"] = ledger.open_account(
            AccountSpec(f"coop{coop_id}:cash", coop_id, "IDR", AccountKind.COOP_CASH, None))
        for n in range(1, 21):
            accounts[f"{coop_id}:m{n}"] = ledger.open_account(
                AccountSpec(f"coop{coop_id}:member{n}", coop_id, "IDR", AccountKind.MEMBER_WALLET))
        for n in range(1, 4):
            accounts[f"{coop_id}:s{n}"] = ledger.open_account(
                AccountSpec(f"coop{coop_id}:merchant{n}", coop_id, "IDR",
                            AccountKind.MERCHANT_WALLET))
    return accounts


def _run_day(services: Services, console: Console) -> Counter[str]:
    rng = random.Random(20261123)  # noqa: S311 - a demo's fixed seed, not security
    accounts, ledger, counts = _open(services), services.ledger, Counter[str]()
    members = [k for k in accounts if ":m" in k]
    merchants = [k for k in accounts if ":s" in k]

    def post(kind: str, request: EntryRequest) -> None:
        try:
            ledger.post(request)
            counts[kind] += 1
        except LedgerError as error:
            counts[f"refused: {error.code}"] += 1

    def move(label: str, n: int, src: str, dst: str, rupiah: int, **extra: object) -> None:
        legs = (Leg(accounts[src].id, -_rupiah(rupiah)), Leg(accounts[dst].id, _rupiah(rupiah)))
        post(label, EntryRequest(f"{label}-{n}", _DAY, legs, **extra))  # type: ignore[arg-type]

    for n, member in enumerate(members):
        move("cash-in", n, f"{member.split(':')[0]}:cash", member, rng.randrange(50, 500) * 1000)
    for n in range(300):
        move("purchase", n, rng.choice(members), rng.choice(merchants),
             rng.randrange(5, 150) * 500)
    for n in range(60):
        payer, payee = rng.sample(members, 2)
        move("transfer", n, payer, payee, rng.randrange(1, 50) * 1000)
    for n in range(20):
        member, merchant = rng.choice(members), rng.choice(merchants)
        move("hold", n, member, merchant, 20_000, kind=EntryKind.PENDING, timeout_s=900)
        target = f"hold-{n}"
        if n % 4 == 0:
            post("void", EntryRequest(f"void-{n}", _DAY, kind=EntryKind.VOID_PENDING,
                                      target_id=target))
        else:
            post("capture", EntryRequest(f"capture-{n}", _DAY, kind=EntryKind.POST_PENDING,
                                         target_id=target))
    move("over-limit", 0, members[0], merchants[0], 50_000_000)
    return counts


def _print_summary(services: Services, counts: Counter[str], console: Console) -> None:
    table = Table(title="Posted today")
    table.add_column("activity")
    table.add_column("count", justify="right")
    for kind, count in sorted(counts.items()):
        table.add_row(kind, str(count))
    console.print(table)
    balances = Table(title="Balances per cooperative (IDR)")
    for column in ("cooperative", "member wallets", "merchant wallets", "cash account"):
        balances.add_column(column, justify="right" if column != "cooperative" else "left")
    with services.engine.connect() as conn:
        from sqlalchemy import func, select

        from ledger.tables import account

        query = select(account.c.coop_id, account.c.kind, func.sum(account.c.posted_minor)).group_by(
            account.c.coop_id, account.c.kind)
        sums = {(row[0], row[1]): int(row[2]) for row in conn.execute(query)}
    for coop_id, name in _COOPS.items():
        balances.add_row(name, *[Money(sums.get((coop_id, k), 0), "IDR").format()
                                 for k in ("member_wallet", "merchant_wallet", "coop_cash")])
    console.print(balances)
