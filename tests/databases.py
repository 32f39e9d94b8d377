"""Test databases: find PostgreSQL, make throwaway databases, drop them afterwards.

PostgreSQL is found in this order: `KOPNET_TEST_DATABASE_URL` (a server the tests may
create databases on); a server answering on 127.0.0.1:5432 as user `postgres`; a throwaway
cluster started with pytest-postgresql from the `pg_ctl` on this machine. If none works the
run fails (never skips) and says what to install. Every database a test uses is created by
the run, from a migrated template, and dropped after it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

from migrations.runner import upgrade

__all__ = ["PostgresServer", "find_postgres", "migrated_template", "throwaway_database"]

_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Not UTC, and far from it: the server's zone must never leak into a stored or read time.
SESSION_TIME_ZONE = "Asia/Jakarta"
_HOW_TO = (
    "PostgreSQL is needed for the tests: set KOPNET_TEST_DATABASE_URL to a server where the"
    " tests may create databases, run a server on 127.0.0.1:5432 (user postgres, trust auth),"
    " or install the PostgreSQL server binaries (initdb, pg_ctl) and run as a non-root user."
)


class PostgresServer:
    """A server the tests may create and drop databases on."""

    def __init__(self, admin_url: str, stop: object = None) -> None:
        self.admin_url = admin_url
        self._stop = stop

    def url_for(self, database: str) -> str:
        """The URL of `database` on this server."""
        return make_url(self.admin_url).set(database=database).render_as_string(False)

    def create(self, database: str, template: str | None = None) -> str:
        """Create `database` (from `template`) and return its URL. Its sessions read and
        write times in `SESSION_TIME_ZONE`, as on a server set up in Indonesia, so that a
        time taken as UTC without being converted shows in the tests."""
        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"{clause}')
            conn.execute(f"ALTER DATABASE \"{database}\" SET timezone TO '{SESSION_TIME_ZONE}'")
        return self.url_for(database)

    def drop(self, database: str) -> None:
        """Drop `database`, disconnecting whoever is still on it."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def close(self) -> None:
        """Stop the throwaway cluster, if this run started one."""
        if self._stop is not None:
            self._stop.stop()  # type: ignore[attr-defined]


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def find_postgres() -> PostgresServer:
    """Return a usable server, trying the three sources in order; fail loudly otherwise."""
    explicit = os.environ.get("KOPNET_TEST_DATABASE_URL")
    if explicit:
        if not _answers(explicit):
            raise RuntimeError(f"KOPNET_TEST_DATABASE_URL does not answer. {_HOW_TO}")
        return PostgresServer(explicit)
    if _answers(_DEFAULT_URL):
        return PostgresServer(_DEFAULT_URL)
    return _start_cluster()


def _start_cluster() -> PostgresServer:
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        raise RuntimeError(f"No PostgreSQL found. {_HOW_TO}")
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    workdir = tempfile.mkdtemp(prefix="kopnet-pg-")
    port = 55000 + os.getpid() % 5000
    executor = PostgreSQLExecutor(
        executable=pg_ctl,
        host="127.0.0.1",
        port=port,
        datadir=f"{workdir}/data",
        unixsocketdir=workdir,
        logfile=f"{workdir}/log",
        startparams="-w",
        dbname="postgres",
    )
    try:
        executor.start()
    except Exception as error:
        raise RuntimeError(f"Could not start a throwaway cluster ({error}). {_HOW_TO}") from error
    return PostgresServer(f"postgresql://postgres@127.0.0.1:{port}/postgres", executor)


def migrated_template(server: PostgresServer) -> str:
    """Create a database migrated to head, to copy test databases from; return its name."""
    name = f"kopnet_tmpl_{uuid.uuid4().hex[:12]}"
    url = server.create(name)
    upgrade(url)
    return name


@contextmanager
def throwaway_database(server: PostgresServer, template: str) -> Iterator[str]:
    """A fresh migrated database for one test; dropped afterwards, whatever happened."""
    name = f"kopnet_test_{uuid.uuid4().hex[:12]}"
    url = server.create(name, template)
    try:
        yield url
    finally:
        server.drop(name)
