"""Enumerations named by their text, as callers outside Python (JSON, a form, a CLI) name
them. Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

__all__ = ["enum_member"]

E = TypeVar("E", bound=StrEnum)


def enum_member(enum: type[E], value: object) -> E | None:
    """The member of `enum` that `value` is, or names by its text; None for anything else
    (another enumeration's member whose text matches counts as that text)."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and value in {member.value for member in enum}:
        return enum(value)
    return None
