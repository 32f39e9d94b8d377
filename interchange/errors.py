"""The interchange's base error: every failure a caller can cause carries a stable code.

Each concept module (QR, fees, payments, registry) defines its own `StrEnum` of codes and a
subclass of `InterchangeError`; codes are published and never renamed. `api/` maps codes
to HTTP statuses; tests assert on codes, never on messages.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["InterchangeError"]


class InterchangeError(Exception):
    """A failure the caller caused; `code` is stable, `message` is for people."""

    def __init__(self, code: StrEnum, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value!r}, {self.message!r})"
