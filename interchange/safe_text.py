"""Rendering stored text safely: participants' names are stored as given, escaped on output.

A member may really be called something that looks like markup or a formula, and the
registry keeps it exactly; what must not happen is that an export or a page runs it. Each
output format has its own rule, applied at the moment of writing that format:

- CSV and other spreadsheet exports: OWASP's rule for CSV (formula) injection is that no
  cell may begin with `=`, `+`, `-`, `@`, a tab (0x09) or a carriage return (0x0D);
  such a cell gets a leading apostrophe, which spreadsheets take as "this is text" and do
  not display. Quoting cells and doubling embedded quotes is the CSV writer's job
  (`csv.writer` does it), not this module's.
- HTML: `&`, `<`, `>`, `"` and `'` become character references.

Pure: no I/O. Both functions are total on `str`.
"""

from __future__ import annotations

import html

__all__ = ["CSV_FORMULA_PREFIXES", "for_csv", "for_html"]

CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def for_csv(text: str) -> str:
    """Return `text` as a spreadsheet cell that cannot start a formula (OWASP's rule)."""
    if text.startswith(CSV_FORMULA_PREFIXES):
        return "'" + text
    return text


def for_html(text: str) -> str:
    """Return `text` with markup characters escaped, safe in HTML text and attributes."""
    return html.escape(text, quote=True)
