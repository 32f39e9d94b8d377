"""The audit's result: findings as values, so one pass reports every problem, not the first.

A finding has a stable `code` (never renamed once published), the row it is about and a
detail for people. A report with no findings is `intact`. `ChainAnchor` is a chain
position and its link from an earlier report, kept outside the database: of the entry
chain (`chain_length`, `chain_head_hash`) or of the account history (`events_length`,
`events_head_hash`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from ledger.digest import GENESIS_HASH
from ledger.stored_times import UnreadableTimeError, readable_time
from ledger.stored_values import Unreadable, unreadable_values

__all__ = ["STREAM", "AuditReport", "ChainAnchor", "Finding"]

# The audit reads whole tables: its queries stream their rows, a chunk at a time.
STREAM = {"stream_results": True, "yield_per": 5000}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that does not add up: a stable `code`, and where."""

    code: str
    subject: str
    detail: str


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """A chain position (an entry chain position, or an account event's `seq`) and its
    link, from an earlier report, kept outside the database."""

    position: int
    chain_hash: str


@dataclass(slots=True)
class AuditReport:
    """The result of a full verification; `intact` when there are no findings."""

    findings: list[Finding] = field(default_factory=list)
    entries_checked: int = 0
    postings_checked: int = 0
    accounts_checked: int = 0
    sealed_entries: int = 0
    unsealed_entries: int = 0
    chain_length: int = 0
    chain_head_hash: str = GENESIS_HASH
    events_length: int = 0
    events_head_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        """True when nothing was altered, deleted or inserted behind the ledger's back."""
        return not self.findings

    def add(self, code: str, subject: str, detail: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(code, subject, detail))

    def add_unreadable(self, row: Row[Any], subject: str, unchecked: str) -> bool:
        """Record each value of `row` (read in raw forms, `ledger.stored_values`) that does
        not read, saying what is left `unchecked` for it; whether there was one."""
        unreadable = unreadable_values(row)
        for column, value in unreadable:
            self.add(value.code, subject, f"{column} holds {value.stored}: {unchecked}")
        return bool(unreadable)

    def read_time(self, raw: object, column: str, subject: str) -> tuple[bool, datetime | None]:
        """Whether the raw time `column` of `subject` (`ledger.stored_times`) reads, and
        what it reads as; one that is no time is recorded as `timestamp_unreadable` (a value
        missing is recorded with the row's other values, `add_unreadable`)."""
        if type(raw) is Unreadable:
            return False, None
        try:
            return True, readable_time(raw)
        except UnreadableTimeError:
            self.add("timestamp_unreadable", subject, f"{column} cannot be read as a time")
            return False, None
