"""The settlement service's base error: every failure a caller can cause has a stable code.

Concept modules define their own `StrEnum` of codes and subclass `SettlementError`; codes
are published and never renamed.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SettlementError"]


class SettlementError(Exception):
    """A failure the caller caused; `code` is stable, `message` is for people."""

    def __init__(self, code: StrEnum, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value!r}, {self.message!r})"
