"""Fixtures shared by every test: databases on both engines and a ledger over each."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ledger.db import make_engine
from ledger.service import Ledger
from migrations.runner import upgrade
from tests.databases import PostgresServer, find_postgres, migrated_template, throwaway_database

TEST_SEAL_KEY = b"kopnet-test-seal-key"

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("deep", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = find_postgres()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> Iterator[str]:
    name = migrated_template(pg_server)
    yield name
    pg_server.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str) -> Iterator[str]:
    with throwaway_database(pg_server, pg_template) as url:
        yield url


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database on each engine in turn."""
    return str(
        request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_url")
    )


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    engine = make_engine(db_url)
    service = Ledger(engine, seal_key=TEST_SEAL_KEY)
    yield service
    service.close()
    engine.dispose()


@pytest.fixture
def pg_ledger(pg_url: str) -> Iterator[Ledger]:
    engine = make_engine(pg_url, pool_size=40)
    service = Ledger(engine, seal_key=TEST_SEAL_KEY)
    yield service
    service.close()
    engine.dispose()
