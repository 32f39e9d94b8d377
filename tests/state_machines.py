"""What the hypothesis state machines that drive a real database share: where each example's
database comes from, and how many examples and steps a run takes.

On SQLite each example gets a fresh copy of the migrated template file. On PostgreSQL the
examples share one migrated throwaway database, because making one per example costs more
than the example itself; each machine keeps its examples apart (its own accounts, ids or
codes), and its whole-database checks cover every example so far.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.databases import throwaway_database

__all__ = ["DatabaseFactory", "example_databases", "stateful_settings"]

DatabaseFactory = Callable[[], AbstractContextManager[str]]


def stateful_settings(examples_per_ten: int, steps: tuple[int, int, int]) -> settings:
    """The profile's settings with `examples_per_ten` tenths of its examples (at least 10)
    and `steps` steps each, for the dev, ci and deep profiles (by their example counts)."""
    base = settings()
    examples = max(10, base.max_examples * examples_per_ten // 10)
    dev, ci, deep = steps
    count = dev if base.max_examples <= 50 else ci if base.max_examples <= 100 else deep
    return settings(
        base,
        max_examples=examples,
        stateful_step_count=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def example_databases(
    engine: str, request: pytest.FixtureRequest, directory: Path
) -> AbstractContextManager[DatabaseFactory]:
    """A factory of each example's database on `engine` ("sqlite" or "postgresql")."""
    if engine == "sqlite":
        return _sqlite_databases(request.getfixturevalue("sqlite_template"), directory)
    assert engine == "postgresql", engine
    server, template = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_template")

    @contextmanager
    def shared() -> Iterator[DatabaseFactory]:
        with throwaway_database(server, template) as url:
            yield lambda: nullcontext(url)

    return shared()


@contextmanager
def _sqlite_databases(template: Path, directory: Path) -> Iterator[DatabaseFactory]:
    @contextmanager
    def fresh() -> Iterator[str]:
        path = directory / f"{uuid.uuid4().hex}.db"
        shutil.copy(template, path)
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in directory.glob(f"{path.name}*"):
                leftover.unlink()

    yield fresh
