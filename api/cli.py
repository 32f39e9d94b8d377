"""The `kopnet` command line for operators: migrate, run the demo, seal, audit, benchmark.

Exit statuses: 0 success; 1 a check found a problem (`audit verify` on a tampered ledger);
2 bad input (with the error's code printed). Every command reads its database from
`--database-url` or `KOPNET_DATABASE_URL`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from api.bootstrap import build, migrate
from api.cli_settle import fees_app, settle_app
from api.settings import Settings
from interchange.qr.cli import qr_app

app = typer.Typer(
    help="kopnet: an inter-cooperative cashless payment network.", no_args_is_help=True
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


def _settings(database_url: str | None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Migrate the database to the newest schema."""
    migrate(_settings(database_url))
    console.print("schema is at head")


@ledger_app.command("seal")
def ledger_seal(
    database_url: DatabaseUrl = None,
    full_scan: Annotated[bool, typer.Option(help="Look for unsealed entries everywhere.")] = False,
) -> None:
    """Link every unsealed entry into the hash chain."""
    services = build(_settings(database_url))
    try:
        console.print(f"sealed {services.ledger.seal(full_scan=full_scan)} entries")
    finally:
        services.close()


@ledger_app.command("expire")
def ledger_expire(database_url: DatabaseUrl = None) -> None:
    """Release holds whose timeout has passed and mark their authorizations expired."""
    services = build(_settings(database_url))
    try:
        marked = services.payments.expire_authorizations()
        console.print(f"released every expired hold; {marked} authorizations marked expired")
    finally:
        services.close()


@audit_app.command("verify")
def audit_verify(
    database_url: DatabaseUrl = None,
    seal_first: Annotated[bool, typer.Option(help="Seal unsealed entries before checking.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute digests, the chain and every balance; exit 1 if anything does not add up."""
    services = build(_settings(database_url))
    try:
        if seal_first:
            services.ledger.seal()
        report = services.ledger.verify()
        windows = services.settlement.verify()
    finally:
        services.close()
    for check in windows:
        if not check.ok:
            report.add(
                "window_positions_mismatch",
                f"window {check.window_date}",
                f"sums to zero: {check.sums_to_zero}, equals ledger: {check.equals_ledger}",
            )
    summary = {
        "intact": report.intact,
        "entries_checked": report.entries_checked,
        "postings_checked": report.postings_checked,
        "accounts_checked": report.accounts_checked,
        "sealed_entries": report.sealed_entries,
        "unsealed_entries": report.unsealed_entries,
        "chain_head_hash": report.chain_head_hash,
        "windows_checked": len(windows),
        "findings": [
            {"code": f.code, "subject": f.subject, "detail": f.detail} for f in report.findings
        ],
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_report(summary)
    raise typer.Exit(0 if report.intact else 1)


def _print_report(summary: dict[str, object]) -> None:
    status = "[green]INTACT[/green]" if summary["intact"] else "[red]TAMPERED[/red]"
    console.print(
        f"ledger {status}: {summary['entries_checked']} entries, "
        f"{summary['postings_checked']} postings, {summary['accounts_checked']} "
        f"accounts; chain head {summary['chain_head_hash']}"
    )
    findings = summary["findings"]
    assert isinstance(findings, list)
    for finding in findings:
        console.print(
            f"  {finding['code']}: {finding['subject']} — {finding['detail']}", markup=False
        )


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

    result = run_ledger_bench(
        database_url,
        coops=coops,
        wallets_per_coop=wallets_per_coop,
        duration_s=duration_s,
        with_pgbench=pgbench,
    )
    typer.echo(json.dumps(result))


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

    typer.echo(json.dumps(run_interchange_bench(database_url, coops=coops, duration_s=duration_s)))


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

    typer.echo(json.dumps(run_settlement_bench(database_url, coops=coops, payments=payments)))


@app.command("demo")
def demo(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Defaults to a fresh SQLite file in a temporary folder."
        ),
    ] = None,
) -> None:
    """Run a day of network activity on a fresh database and print a summary."""
    from api.demo import run_demo

    intact = run_demo(database_url, console)
    raise typer.Exit(0 if intact else 1)
