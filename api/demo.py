"""`kopnet demo`: a day of network traffic on a fresh database, then the night's close.

The network operator and three cooperatives, their members and merchants. Members cash in
at their own and other cooperatives' counters, buy from merchants of their own and other
cooperatives by static and dynamic QR (with a tip), have purchases authorized and captured
or voided, cash out, send money across cooperatives, and get refunds; a few attempts are
refused (over the per-payment limit, more than the wallet holds). The summary shows what
happened, each cooperative's fee income and net position, then the close: positions
checked against the ledger, settlement instructions, bank confirmations, settled. The
window's cut-off is set a few seconds from now, in the settings' time zone, so that the
close can run at once. Deterministic apart from timestamps: a fixed seed.

The demo runs on a fresh database: one that holds data is refused (`database_not_empty`)
before anything is written. Other refusals are those of `api.cli_support`.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Select, inspect, literal_column, select, table

from api.bootstrap import Services
from api.cli_support import (
    fail,
    load_settings,
    opening_database,
    running,
    shown_url,
    upgrade_schema,
)
from api.settings import Settings
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
from ledger.db import make_engine
from ledger.money import Money
from settlement.bank_statement import BankStatement, Direction, StatementEntry
from settlement.camt053 import parse_camt053, render_camt053
from settlement.report_render import report_to_csv, report_to_json, report_to_pdf
from settlement.settling import InstructionRow

__all__ = ["run_demo"]

_DAY_BUDGET_S = 10
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
class _Network:
    network: Coop
    coops: list[Coop]
    members: list[Member]
    merchants: list[Merchant]


def _with_cutoff_soon(settings: Settings) -> Settings:
    """`settings` with the window cut-off `_DAY_BUDGET_S` seconds from now, in their zone."""
    now = datetime.now(ZoneInfo(settings.time_zone))
    elapsed_s = int((now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds())
    cutoff_s = min(86_400, elapsed_s + _DAY_BUDGET_S)
    assert 1 <= cutoff_s <= 86_400, "a cut-off within the day, as Settings require"
    return settings.model_copy(update={"window_cutoff_s": cutoff_s})


def run_demo(database_url: str | None, console: Console) -> bool:
    """Run the demo and print its summary; return whether everything checked out.

    Without `database_url`, on a new SQLite file in a temporary folder. Refuses (exit 2
    with a code, nothing written) bad settings and a database that is not fresh.
    """
    if database_url is None:
        workdir = tempfile.mkdtemp(prefix="kopnet-demo-")
        database_url = f"sqlite:///{Path(workdir) / 'kopnet-demo.db'}"
    settings = _with_cutoff_soon(load_settings(database_url))
    with opening_database():
        _require_fresh(settings.database_url)
    upgrade_schema(settings)
    with running(settings) as services:
        intact = _run(services, console)
    console.print(f"database: {shown_url(settings.database_url)}", markup=False)
    return intact


def _require_fresh(url: str) -> None:
    """`database_not_empty` unless no table at `url` holds a row (Alembic's excepted).

    A freshly migrated database is fresh; so is one with no tables (created if missing).
    """
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
            held = [n for n in names if conn.execute(_any_row(n)).first() is not None]
    finally:
        engine.dispose()
    if held:
        fail(
            "database_not_empty",
            "the demo runs on a fresh database: name an empty one, or none",
        )


def _any_row(table_name: str) -> Select[tuple[object]]:
    """A query for one row of the table, if it has any."""
    return select(literal_column("1")).select_from(table(table_name)).limit(1)


def _run(services: Services, console: Console) -> bool:
    """The day, the night's close and the audit; whether everything checked out."""
    world = _register(services)
    counts, window_date = _run_day(services, world)
    _print_day(services, world, counts, console)
    settled = _close_night(services, world, window_date, console)
    services.ledger.seal()
    report = services.ledger.verify()
    status = "[green]intact[/green]" if report.intact else "[red]NOT intact[/red]"
    console.print(
        f"ledger audit: {status} ({report.entries_checked} entries, "
        f"{report.postings_checked} postings); anchor for the next audit "
        f"(`kopnet audit verify --anchor`): {report.chain_length}:{report.chain_head_hash}"
    )
    return report.intact and settled


def _register(services: Services) -> _Network:
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
    return _Network(network, coops, members, merchants)


def _commands(world: _Network, rng: random.Random) -> Iterator[tuple[str, PaymentCommand]]:
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


def _run_day(services: Services, world: _Network) -> tuple[Counter[str], date]:
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


def _print_day(services: Services, world: _Network, counts: Counter[str], console: Console) -> None:
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


def _close_night(services: Services, world: _Network, window_date: date, console: Console) -> bool:
    cutoff = services.settlement.calendar.cutoff_at(window_date)
    wait_s = (cutoff - datetime.now(UTC)).total_seconds()
    if wait_s > 0:
        console.print(f"waiting {wait_s:.0f} s for the cut-off at {cutoff.isoformat()}")
        time.sleep(wait_s + 0.2)
    summary = services.settlement.close(window_date, actor="demo-night-job")
    names = {c.id: escape(c.code) for c in [world.network, *world.coops]}
    positions = Table(
        title=f"Net positions, window {window_date} (recomputed from the "
        f"ledger: {'equal' if summary.recompute_ok else 'DIFFERENT'})"
    )
    for column in ("cooperative", "owes (gross)", "is owed (gross)", "net"):
        positions.add_column(column, justify="left" if column == "cooperative" else "right")
    for row in summary.positions:
        positions.add_row(
            names[row.coop_id],
            Money(row.payable_minor, row.currency).format(),
            Money(row.receivable_minor, row.currency).format(),
            Money(row.net_minor, row.currency).format(),
        )
    console.print(positions)
    instructions = services.settlement.start(window_date, actor="demo-manager")
    table = Table(title="Settlement instructions")
    for column in ("reference", "payer", "payee", "amount", "booked as"):
        table.add_column(column)
    for item in instructions:
        payer = names.get(item.payer_coop_id or 0, "network")
        payee = names.get(item.payee_coop_id or 0, "network")
        if not item.internal:
            services.settlement.confirm(
                item.reference,
                bank_reference=f"BANK{item.reference[-6:]}",
                amount=item.amount,
                actor="demo-treasurer",
            )
        table.add_row(
            item.reference,
            payer,
            payee,
            item.amount.format(),
            "internal" if item.internal else "bank transfer",
        )
    console.print(table)
    final = services.settlement.summary(window_date)
    console.print(f"window {window_date}: [bold]{final.status}[/bold]")
    clean = _reports_and_reconciliation(services, window_date, instructions, console)
    return final.status == "settled" and bool(summary.recompute_ok) and clean


def _reports_and_reconciliation(
    services: Services, window_date: date, instructions: list[InstructionRow], console: Console
) -> bool:
    """Write the window's reports, then reconcile the bank's camt.053 statement with them."""
    folder = Path(tempfile.mkdtemp(prefix="kopnet-reports-"))
    report = services.settlement.report(window_date)
    (folder / "network-report.json").write_text(report_to_json(report), encoding="utf-8")
    (folder / "network-report.csv").write_text(report_to_csv(report), encoding="utf-8")
    (folder / "network-report.pdf").write_bytes(report_to_pdf(report))
    statement_path = folder / "settlement-account.camt053.xml"
    statement_path.write_bytes(
        render_camt053(
            _bank_statement(window_date, instructions),
            message_id=f"DEMO{window_date:%Y%m%d}",
            created_at=datetime.now(UTC),
            version="001.08",
        )
    )
    result = services.settlement.reconcile(window_date, parse_camt053(statement_path.read_bytes()))
    console.print(f"reports and the bank's statement: {folder}", markup=False)
    console.print(
        f"reconciliation of {statement_path.name}: {len(result.matched)} matched, "
        f"{len(result.mismatched)} mismatched, {len(result.unmatched_expected)} "
        f"missing, {len(result.unmatched_statement)} unexpected"
    )
    return result.is_clean


def _bank_statement(window_date: date, instructions: list[InstructionRow]) -> BankStatement:
    """What the settlement bank reports for the network's account after the night's payments."""
    entries = tuple(
        StatementEntry(
            window_date,
            item.amount,
            Direction.DEBIT if item.payer_coop_id is None else Direction.CREDIT,
            item.reference,
            f"BANK{item.reference[-6:]}",
        )
        for item in instructions
        if not item.internal
    )
    # The network's fee share stays in its bank account: the statement closes on it.
    retained = Money(sum(entry.signed_minor for entry in entries), "IDR")
    return BankStatement("0021000000", "IDR", Money.zero("IDR"), retained, entries)
