"""The statement, reconciliation and report modules are pure, small, and say what they export."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import settlement

PACKAGE_DIR = Path(settlement.__file__).resolve().parent
MODULES = sorted(
    ["bank_statement.py", "camt053.py", "reconciliation.py"]
    + [p.name for p in PACKAGE_DIR.glob("report_*.py")]
    + [p.name for p in PACKAGE_DIR.glob("recon_*.py")]
)
PURE_ROOTS = {
    "__future__",
    "collections",
    "csv",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "io",
    "json",
    "re",
    "types",
    "typing",
    "xml",
    "ledger",
    "interchange",
    "settlement",
}
# The PDF renderer is the one module that needs a third-party library.
EXTRA_ROOTS = {"report_pdf.py": {"hashlib", "reportlab"}}
IMPURE_MODULES = {"settlement.tables", "settlement.closing", "settlement.service", "ledger.db"}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_expected_modules_exist() -> None:
    assert {"bank_statement.py", "camt053.py", "report_model.py", "report_render.py"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_database_clock_or_network(module: str) -> None:
    names = imports_of(PACKAGE_DIR / module)
    roots = {name.split(".")[0] for name in names}
    assert roots <= PURE_ROOTS | EXTRA_ROOTS.get(module, set())
    assert not names & IMPURE_MODULES
    source = (PACKAGE_DIR / module).read_text(encoding="utf-8")
    assert ".now(" not in source
    assert ".today(" not in source


@pytest.mark.parametrize("module", MODULES)
def test_module_is_under_400_lines_documented_and_declares_its_surface(module: str) -> None:
    source = (PACKAGE_DIR / module).read_text(encoding="utf-8")
    assert len(source.splitlines()) < 400
    assert "__all__" in source
    assert ast.get_docstring(ast.parse(source))


@pytest.mark.parametrize("module", MODULES)
def test_every_function_is_under_30_lines_and_documented(module: str) -> None:
    for node in ast.walk(ast.parse((PACKAGE_DIR / module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno is not None
            assert node.end_lineno - node.lineno < 30, node.name
            if not node.name.startswith("__"):
                assert ast.get_docstring(node), node.name
