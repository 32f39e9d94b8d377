"""Dependencies point one way: api -> bench -> settlement -> interchange -> ledger.

`migrations` may use `ledger` (for its engine), and only `api` may use `migrations`; the
revisions in `migrations/versions` import nothing of ours.

Walks the imports (with `ast`, without importing anything) of every module of our packages
and fails on a wrong arrow. Imports inside functions and under `TYPE_CHECKING` count too,
as do relative imports and `importlib.import_module("...")` with a literal name. The pure
core of the ledger must not import SQLAlchemy (directly, or through another ledger module),
nor the clock, randomness, logging or other I/O.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = frozenset({"ledger", "interchange", "settlement", "api", "bench", "migrations", "tests"})
# Which of our top-level packages each package may import.
ALLOWED: dict[str, frozenset[str]] = {
    "ledger": frozenset({"ledger"}),
    "interchange": frozenset({"interchange", "ledger"}),
    "settlement": frozenset({"settlement", "interchange", "ledger"}),
    # Benchmarks build their own scratch databases, so they run the migrations.
    "bench": frozenset({"bench", "settlement", "interchange", "ledger", "migrations"}),
    "api": frozenset({"api", "bench", "settlement", "interchange", "ledger", "migrations"}),
    # The Alembic environment and runner build an engine with `ledger.db`.
    "migrations": frozenset({"migrations", "ledger"}),
}
PURE_LEDGER = frozenset(
    f"ledger.{name}"
    for name in (
        "money",
        "currency",
        "errors",
        "account",
        "entry",
        "validation",
        "planner",
        "leg_effects",
        "idempotency",
        "digest",
        "row_id",
    )
)
# Libraries that do I/O, read the clock or the environment, or are random.
IMPURE = frozenset(
    {
        "sqlalchemy",
        "psycopg",
        "alembic",
        "random",
        "secrets",
        "uuid",
        "logging",
        "time",
        "os",
        "socket",
        "threading",
        "subprocess",
        "httpx",
        "fastapi",
    }
)
CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter"})


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module name, where it was imported."""

    module: str
    line: int

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def module_name(path: Path) -> str:
    """`ledger/planner.py` -> `ledger.planner`; a package's `__init__.py` -> the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every module `source` imports, with relative imports resolved against `module`."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            yield Import(stem, node.lineno)
            for alias in node.names:
                yield Import(f"{stem}.{alias.name}", node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(node.args[0].value, node.lineno)


def allowed_for(module: str) -> frozenset[str]:
    """Our top-level packages `module` may import."""
    if module.startswith("migrations.versions"):
        return frozenset()  # Migrations are written by hand and never import the models.
    return ALLOWED[module.split(".")[0]]


def wrong_arrows(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """`module:line -> package` for each import of ours that the layering forbids."""
    allowed = allowed_for(module)
    return sorted(
        {
            f"{module}:{found.line} -> {found.top}"
            for found in imports_of(module, source, is_package=is_package)
            if found.top in OURS and found.top not in allowed
        }
    )


def _modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in ALLOWED
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = _modules()


def _imports(module: str) -> list[Import]:
    path = MODULES[module]
    return list(imports_of(module, path.read_text(), is_package=path.name == "__init__.py"))


def test_the_walk_finds_every_package_and_the_ledger_core() -> None:
    assert {m.split(".")[0] for m in MODULES} == set(ALLOWED)
    assert MODULES.keys() >= PURE_LEDGER
    assert {"ledger.service", "ledger.store", "migrations.versions.0001_ledger"} <= MODULES.keys()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_against_the_layering(module: str) -> None:
    path = MODULES[module]
    assert wrong_arrows(module, path.read_text(), is_package=path.name == "__init__.py") == []


@pytest.mark.parametrize("module", sorted(PURE_LEDGER))
def test_the_pure_ledger_core_imports_no_io_library(module: str) -> None:
    impure = [f"{i.line}: {i.module}" for i in _imports(module) if i.top in IMPURE]
    assert impure == []


@pytest.mark.parametrize("module", sorted(PURE_LEDGER))
def test_the_pure_ledger_core_imports_only_other_pure_ledger_modules(module: str) -> None:
    ours = {i.module for i in _imports(module) if i.top == "ledger"}
    # `from ledger.money import Money` yields both `ledger.money` and `ledger.money.Money`.
    modules = {name for name in ours if name in MODULES}
    assert modules <= PURE_LEDGER


@pytest.mark.parametrize("module", sorted(PURE_LEDGER))
def test_the_pure_ledger_core_does_not_read_the_clock(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    calls = [
        f"{node.lineno}: {node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_CALLS
    ]
    assert calls == []


# The walker itself: wrong arrows are found, right ones are not.


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("ledger.x", "import api"),
        ("ledger.x", "from interchange.fees import quote"),
        ("ledger.x", "from migrations import runner"),
        ("ledger.sub.x", "from ...api import thing"),
        ("ledger.x", "def f():\n    from settlement import netting"),
        ("ledger.x", "import importlib\nimportlib.import_module('api.bootstrap')"),
        ("interchange.x", "from settlement.netting import net"),
        ("settlement.x", "import api.bootstrap"),
        ("bench.x", "from api import bootstrap"),
        ("api.x", "import tests.builders"),
        ("migrations.versions.0002_x", "from ledger.tables import metadata"),
    ],
)
def test_the_walker_reports_a_wrong_arrow(module: str, source: str) -> None:
    assert len(wrong_arrows(module, source)) == 1


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("ledger.x", "import json\nfrom sqlalchemy import select\nfrom ledger.money import Money"),
        ("ledger.x", "from . import money\nfrom .entry import Leg"),
        ("interchange.qr", "from .decode import decode"),
        ("interchange.x", "from ledger.money import Money"),
        ("settlement.x", "from interchange.fees import quote\nimport ledger.errors"),
        ("bench.x", "import settlement.netting"),
        ("bench.x", "from migrations.runner import upgrade"),
        ("api.x", "from bench import run\nfrom migrations.runner import upgrade"),
    ],
)
def test_the_walker_accepts_a_right_arrow(module: str, source: str) -> None:
    is_package = module == "interchange.qr"
    assert wrong_arrows(module, source, is_package=is_package) == []


def test_relative_imports_resolve_against_the_importing_module() -> None:
    found = {i.module for i in imports_of("ledger.sub.mod", "from ..money import Money")}
    assert found == {"ledger.money", "ledger.money.Money"}
    in_package = {i.module for i in imports_of("ledger", "from . import money", is_package=True)}
    assert in_package == {"ledger", "ledger.money"}
