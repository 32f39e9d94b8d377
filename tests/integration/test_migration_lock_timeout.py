"""A migration waiting for a table lock gives up after `KOPNET_LOCK_TIMEOUT_MS`, changing nothing.

DDL takes a table's strongest lock. Waiting for it behind a session that reads the table
in an open transaction (an operator's psql session, a long report), a migration used to
wait without bound, and every later session of the table queued behind its request. Now
`kopnet db upgrade` fails after the lock timeout of its settings with `lock_wait_timeout`
(exit 2), the database still at the revision it was, and goes through once the lock goes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from migrations.runner import current_revision, head_revision, upgrade
from tests.cli import assert_refused_with, invoke
from tests.databases import PostgresServer
from tests.races import answered_within

# The revision before the first that alters an existing table (0004: interchange_coop).
_BEFORE_ALTER = "0003"
_ANSWER_S_MAX = 20.0


@pytest.fixture
def url_before_alter(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database migrated up to `_BEFORE_ALTER`, dropped afterwards."""
    name = f"kopnet_test_{uuid.uuid4().hex[:12]}"
    url = pg_server.create(name)
    try:
        upgrade(url, _BEFORE_ALTER)
        yield url
    finally:
        pg_server.drop(name)


def test_an_upgrade_behind_a_reader_fails_with_lock_wait_timeout_then_goes_through(
    url_before_alter: str,
) -> None:
    url = url_before_alter
    env = {"KOPNET_LOCK_TIMEOUT_MS": "200"}
    with psycopg.connect(url) as reader:
        reader.execute("SELECT count(*) FROM interchange_coop").fetchone()
        try:
            started = time.monotonic()
            result = answered_within(
                _ANSWER_S_MAX, lambda: invoke("db", "upgrade", "--database-url", url, env=env)
            )
            elapsed_s = time.monotonic() - started
        finally:
            reader.rollback()
    assert not isinstance(result, Exception), result
    assert_refused_with(result, "lock_wait_timeout")
    assert elapsed_s < 10.0
    assert current_revision(url) == _BEFORE_ALTER
    assert invoke("db", "upgrade", "--database-url", url, env=env).exit_code == 0
    assert current_revision(url) == head_revision()
