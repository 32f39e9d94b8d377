"""`kopnet demo`: a day of network traffic on a fresh database, then the night's close.

It finishes within a minute in any network time zone; run again on its own database it
either runs or refuses with a code and changes nothing; what it prints hides the database
password and shows a path as given, whatever characters it holds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ledger.db import make_engine
from tests.cli import assert_no_traceback, assert_refused_with, invoke


def _entry_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM ledger_entry")).scalar_one())
    finally:
        engine.dispose()


def test_the_demo_run_again_on_its_database_refuses_changing_nothing(tmp_path: Path) -> None:
    """`kopnet demo` on a database it already ran on refuses with `database_not_empty`,
    leaving it unchanged; it does not book new payments and then die with a WindowError
    traceback (`window_settled`)."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = invoke("demo", "--database-url", url)
    assert first.exit_code == 0, first.output
    entries = _entry_count(url)
    again = invoke("demo", "--database-url", url)
    assert_no_traceback(again)
    assert again.exit_code == 2
    assert_refused_with(again, "database_not_empty")
    assert _entry_count(url) == entries


def test_the_demo_prints_no_database_password(pg_url: str) -> None:
    """The demo's last line shows the database URL with the password hidden (as `***`),
    so no credential leaks into terminals and logs."""
    secret = "kopnet-demo-secret-pw"
    url = make_url(pg_url).set(password=secret).render_as_string(hide_password=False)
    result = invoke("demo", "--database-url", url)
    assert result.exit_code == 0, result.output
    assert secret not in result.output.replace("\n", "")


def test_the_demo_prints_a_database_path_with_brackets_as_given(tmp_path: Path) -> None:
    """The URL is printed as text, not rich markup: a path with `[/b]` in it does not
    make the demo die at its last line with a MarkupError after the whole run (exit 1)."""
    folder = tmp_path / "a[" / "b]"
    folder.mkdir(parents=True)
    result = invoke("demo", "--database-url", f"sqlite:///{folder / 'demo.db'}")
    assert_no_traceback(result)
    assert result.exit_code == 0


class _LongWaitError(Exception):
    """Raised instead of sleeping for longer than a demo may take."""


def test_the_demo_finishes_within_a_minute_in_any_network_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kopnet demo` runs in under a minute with `KOPNET_TIME_ZONE=Asia/Makassar` (WITA)
    too: the cut-off and the window are in the same time zone, so it never sleeps for
    hours (about 23 h, or 7 h for UTC) waiting for a cut-off placed in Jakarta seconds."""
    real_sleep = time.sleep
    waits_s: list[float] = []

    def sleep(seconds: float) -> None:
        if seconds > 60:
            waits_s.append(seconds)
            raise _LongWaitError(f"asked to sleep {seconds:.0f} s")
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    result = invoke(
        "demo",
        "--database-url",
        f"sqlite:///{tmp_path / 'demo.db'}",
        env={"KOPNET_TIME_ZONE": "Asia/Makassar"},
    )
    assert waits_s == []
    assert result.exit_code == 0, result.output
