"""`kopnet demo`: a day of network traffic on a fresh database, then the night's close.

The day is `api.demo_day`'s, the close `api.demo_night`'s; this module checks the database,
runs them and then seals and audits the ledger. The window's cut-off is set a few seconds
from now, in the settings' time zone, so that the close can run at once. Deterministic
apart from timestamps: fixed seeds.

The demo runs on a fresh database: one that holds data is refused (`database_not_empty`)
before anything is written. Other refusals are those of `api.cli_support`.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
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
from api.demo_day import print_day, register, run_day
from api.demo_night import close_night
from api.settings import Settings
from ledger.db import make_engine

__all__ = ["run_demo"]

_DAY_BUDGET_S = 10


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
    world = register(services)
    counts, window_date = run_day(services, world)
    print_day(services, world, counts, console)
    settled = close_night(services, world, window_date, console)
    services.ledger.seal()
    report = services.ledger.verify()
    status = "[green]intact[/green]" if report.intact else "[red]NOT intact[/red]"
    console.print(
        f"ledger audit: {status} ({report.entries_checked} entries, "
        f"{report.postings_checked} postings); anchor for the next audit "
        f"(`kopnet audit verify --anchor`): {report.chain_length}:{report.chain_head_hash}"
    )
    return report.intact and settled
