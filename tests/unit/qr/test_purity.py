"""The QR core is pure: only `render` and `cli` may import I/O, clock or third-party libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import interchange.qr

PACKAGE_DIR = Path(interchange.qr.__file__).resolve().parent
SHELL_MODULES = {"render.py", "cli.py"}
ALLOWED_ROOTS = {
    "__future__",
    "binascii",
    "collections",
    "dataclasses",
    "decimal",
    "enum",
    "functools",
    "interchange",
    "ledger",
    "re",
    "types",
    "typing",
    "unicodedata",
}
CORE_MODULES = sorted(p.name for p in PACKAGE_DIR.glob("*.py") if p.name not in SHELL_MODULES)


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_nothing_impure(module: str) -> None:
    assert imported_roots(PACKAGE_DIR / module) <= ALLOWED_ROOTS


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_import_the_shell(module: str) -> None:
    source = (PACKAGE_DIR / module).read_text(encoding="utf-8")
    assert "interchange.qr.render" not in source
    assert "interchange.qr.cli" not in source


def test_every_module_is_under_400_lines_and_declares_its_public_surface() -> None:
    for path in PACKAGE_DIR.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert len(source.splitlines()) < 400, path.name
        assert "__all__" in source, path.name
        assert ast.get_docstring(ast.parse(source)), path.name


def test_every_function_is_under_30_lines_and_documented_when_public() -> None:
    for path in PACKAGE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                assert node.end_lineno is not None
                assert node.end_lineno - node.lineno < 30, (path.name, node.name)
                if not node.name.startswith("_"):
                    assert ast.get_docstring(node), (path.name, node.name)
