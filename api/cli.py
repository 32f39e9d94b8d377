"""The `kopnet` command line for operators: migrate, run the demo, seal, audit, benchmark.

Exit statuses: 0 success; 1 a check found a problem (`audit verify` on a tampered ledger,
a demo that did not check out); 2 bad input, a bad setting or a database that cannot be
used (with the error's code printed, `api.cli_support`; nothing changed). Every command
reads its database from `--database-url` or `KOPNET_DATABASE_URL`; only `db upgrade`
(and the demo) create one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from api.cli_settle import fees_app, settle_app
from api.cli_support import (
    fail,
    load_settings,
    open_services,
    opening_database,
    require_database_url,
    upgrade_schema,
)
from api.cli_usage import CodedGroup
from interchange.qr.cli import qr_app
from ledger.audit import AuditReport, ChainAnchor

app = typer.Typer(
    cls=CodedGroup,
    help="kopnet: an inter-cooperative cashless payment network.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance.", no_args_is_help=True)
audit_app = typer.Typer(help="Tamper evidence and integrity.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (print one JSON object).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
app.add_typer(bench_app, name="bench")
app.add_typer(settle_app, name="settle")
app.add_typer(fees_app, name="fees")
app.add_typer(qr_app, name="qr", help="Encode, decode and render EMVCo / QRIS merchant codes.")

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Overrides KOPNET_DATABASE_URL.")
]
console = Console()
# Bounds of the benchmarks' options, beyond which a run is nonsense or would never end.
_COOPS_MAX = 10_000
_WALLETS_PER_COOP_MAX = 100_000
_DURATION_S_MAX = 3_600.0
_PAYMENTS_MAX = 10_000_000
_LINK = re.compile(r"[0-9a-f]{64}")


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Migrate the database to the newest schema (a missing SQLite file is created)."""
    upgrade_schema(load_settings(database_url))
    console.print("schema is at head")


@ledger_app.command("seal")
def ledger_seal(
    database_url: DatabaseUrl = None,
    full_scan: Annotated[bool, typer.Option(help="Look for unsealed entries everywhere.")] = False,
) -> None:
    """Link every unsealed entry into the hash chain."""
    with open_services(database_url) as services:
        sealed = services.ledger.seal(full_scan=full_scan)
    console.print(f"sealed {sealed} entries")


@ledger_app.command("seal-terms")
def ledger_seal_terms(database_url: DatabaseUrl = None) -> None:
    """Seal the terms of the accounts a migration listed (opened before 0008, due accounts
    whose limit 0012 removed), and record in the account history those frozen or closed
    before 0013, once after the upgrade.

    Seals them as they stand now: run it right after `db upgrade`, before anyone could
    change them. Exit 1 if an account was left as it was (a stored value does not read,
    its history disagrees with it, or 0012 found its terms rewritten; `audit verify` says
    why)."""
    with open_services(database_url) as services:
        done = services.ledger.seal_account_terms()
    console.print(f"sealed the terms of {len(done.sealed)} accounts listed by a migration")
    console.print(
        f"recorded {len(done.recorded)} accounts frozen or closed before 0013 in the history"
    )
    left = (
        ("unsealed, a stored value unreadable", done.unreadable),
        ("unsealed, their terms or history disagree (`audit verify` says how)", done.refused),
    )
    for why, accounts in left:
        if accounts:
            named = ", ".join(map(str, accounts[:20]))
            console.print(f"left {len(accounts)} {why}: {named}")
    if done.unreadable or done.refused:
        raise typer.Exit(1)


@ledger_app.command("expire")
def ledger_expire(database_url: DatabaseUrl = None) -> None:
    """Release holds whose timeout has passed and mark their authorizations expired."""
    with open_services(database_url) as services:
        marked = services.payments.expire_authorizations()
    console.print(
        "released the expired holds (one whose account another session holds stays due for"
        f" the next run); {marked} authorizations marked expired"
    )


@audit_app.command("verify")
def audit_verify(
    database_url: DatabaseUrl = None,
    seal_first: Annotated[
        bool, typer.Option(help="Seal every unsealed entry (the whole ledger) before checking.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    anchor: Annotated[
        str | None,
        typer.Option(
            help="POSITION:HASH of the chain from an earlier report, kept outside the "
            "database: shows whether the newest sealed entries were removed."
        ),
    ] = None,
    events_anchor: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH of the account history from an earlier report (its "
            "`events_anchor`), kept outside the database: shows whether the newest status "
            "changes were removed."
        ),
    ] = None,
) -> None:
    """Recompute digests, the chain and every balance; exit 1 if anything does not add up.

    Exit 2 (with a code) when the database cannot be audited: exit 1 means tampered only.
    """
    kept = None if anchor is None else _parse_anchor(anchor, "--anchor")
    kept_events = None if events_anchor is None else _parse_anchor(events_anchor, "--events-anchor")
    with open_services(database_url) as services:
        if seal_first:
            # The whole ledger, as the audit reads it all anyway: an entry that committed
            # later than the sealer's late window is sealed too, not left outside the chain.
            services.ledger.seal(full_scan=True)
        report = services.ledger.verify(anchor=kept, events_anchor=kept_events)
        windows = services.settlement.verify()
    for check in windows:
        if not check.ok:
            report.add(
                "window_positions_mismatch",
                f"window {check.window_date}",
                f"sums to zero: {check.sums_to_zero}, equals ledger: {check.equals_ledger}",
            )
    summary = {**_summary(report), "windows_checked": len(windows)}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_report(summary)
    raise typer.Exit(0 if report.intact else 1)


def _summary(report: AuditReport) -> dict[str, object]:
    """The report as `audit verify` prints it, with the anchors to keep: the entry chain's
    and the account history's, each `LENGTH:HEAD`."""
    findings = [{"code": f.code, "subject": f.subject, "detail": f.detail} for f in report.findings]
    return {
        "intact": report.intact,
        "entries_checked": report.entries_checked,
        "postings_checked": report.postings_checked,
        "accounts_checked": report.accounts_checked,
        "sealed_entries": report.sealed_entries,
        "unsealed_entries": report.unsealed_entries,
        "chain_length": report.chain_length,
        "chain_head_hash": report.chain_head_hash,
        "anchor": f"{report.chain_length}:{report.chain_head_hash}",
        "events_length": report.events_length,
        "events_head_hash": report.events_head_hash,
        "events_anchor": f"{report.events_length}:{report.events_head_hash}",
        "findings": findings,
    }


def _parse_anchor(text: str, option: str) -> ChainAnchor:
    """`POSITION:HASH` as an anchor, or `anchor_invalid` (naming the `option`)."""
    position, _, link = text.partition(":")
    digits = position.isascii() and position.isdigit() and len(position) <= 18
    if not (digits and _LINK.fullmatch(link)):
        fail(
            "anchor_invalid",
            f"{option} expects POSITION:HASH, as the `anchor` or `events_anchor` of an"
            " earlier report",
        )
    return ChainAnchor(int(position), link)


def _print_report(summary: dict[str, object]) -> None:
    status = "[green]INTACT[/green]" if summary["intact"] else "[red]TAMPERED[/red]"
    console.print(
        f"ledger {status}: {summary['entries_checked']} entries, "
        f"{summary['postings_checked']} postings, {summary['accounts_checked']} "
        f"accounts; anchors (keep both for the next audit) {summary['anchor']}, events"
        f" {summary['events_anchor']}"
    )
    findings = summary["findings"]
    assert isinstance(findings, list)
    for finding in findings:
        console.print(
            f"  {finding['code']}: {finding['subject']} — {finding['detail']}", markup=False
        )


def _bench(
    database_url: str, run: Callable[[], dict[str, object]], **ranges: tuple[float, float, float]
) -> None:
    """Check the server URL and each option's (value, low, high), both ends inclusive
    (`database_url_invalid`, `bench_parameter_invalid`: NaN and the infinities are outside
    every range); run the benchmark and print its JSON, or the server's refusal
    (`database_unavailable`)."""
    require_database_url(database_url)
    for name, (value, low, high) in ranges.items():
        if not (math.isfinite(value) and low <= value <= high):
            option = f"--{name.replace('_', '-')}"
            fail("bench_parameter_invalid", f"{option} is from {low:g} to {high:g}")
    with opening_database():
        result = run()
    typer.echo(json.dumps(result))


@bench_app.command("ledger")
def bench_ledger(
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url", help="A PostgreSQL server URL; the benchmark makes its own database."
        ),
    ],
    coops: int = 100,
    wallets_per_coop: int = 1000,
    duration_s: float = 10.0,
    pgbench: Annotated[bool, typer.Option(help="Also run pgbench -c 16 -T 20.")] = True,
) -> None:
    """Measure single, hot and batch transfer throughput; print one JSON object."""
    from bench.ledger_bench import run_ledger_bench

    _bench(
        database_url,
        lambda: run_ledger_bench(
            database_url,
            coops=coops,
            wallets_per_coop=wallets_per_coop,
            duration_s=duration_s,
            with_pgbench=pgbench,
        ),
        coops=(coops, 1, _COOPS_MAX),
        wallets_per_coop=(wallets_per_coop, 2, _WALLETS_PER_COOP_MAX),
        duration_s=(duration_s, 0.1, _DURATION_S_MAX),
    )


@bench_app.command("interchange")
def bench_interchange(
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url", help="A PostgreSQL server URL; the benchmark makes its own database."
        ),
    ],
    coops: int = 100,
    duration_s: float = 10.0,
) -> None:
    """Measure off-us QR purchases per second (spread and hot merchant); print JSON."""
    from bench.interchange_bench import run_interchange_bench

    _bench(
        database_url,
        lambda: run_interchange_bench(database_url, coops=coops, duration_s=duration_s),
        coops=(coops, 2, _COOPS_MAX),
        duration_s=(duration_s, 0.1, _DURATION_S_MAX),
    )


@bench_app.command("settlement")
def bench_settlement(
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url", help="A PostgreSQL server URL; the benchmark makes its own database."
        ),
    ],
    coops: int = 100,
    payments: int = 1_000_000,
) -> None:
    """Close, net, recompute and report a window of off-us payments; print JSON."""
    from bench.settlement_bench import run_settlement_bench

    _bench(
        database_url,
        lambda: run_settlement_bench(database_url, coops=coops, payments=payments),
        coops=(coops, 2, _COOPS_MAX),
        payments=(payments, 1, _PAYMENTS_MAX),
    )


@app.command("demo")
def demo(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Defaults to a fresh SQLite file in a temporary folder."
        ),
    ] = None,
) -> None:
    """Run a day of network activity on a fresh database and print a summary.

    Refuses a database that holds data (`database_not_empty`), changing nothing.
    """
    from api.demo import run_demo

    intact = run_demo(database_url, console)
    raise typer.Exit(0 if intact else 1)
