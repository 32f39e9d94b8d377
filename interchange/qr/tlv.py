"""EMVCo tag-length-value data objects: parsing and serialising one level of them.

Invariants: a tag is two ASCII digits; a length is two ASCII digits from 01 to 99 and counts
characters (not bytes); tags are unique within one level. Templates (26–51 merchant account
information, 62 additional data, 64 language, 80–99 unreserved) hold a further level of
objects; every other tag is primitive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from interchange.qr.errors import QrError, QrErrorCode

__all__ = [
    "VALUE_CHARS_MAX",
    "DataObject",
    "format_object",
    "is_template_tag",
    "join_path",
    "parse_objects",
    "serialize",
]

VALUE_CHARS_MAX = 99


@dataclass(frozen=True, slots=True)
class DataObject:
    """One data object; `children` holds a template's sub-objects, empty for primitives."""

    tag: str
    value: str
    children: tuple[DataObject, ...] = ()


def is_template_tag(tag: str) -> bool:
    """True when `tag` is a template whose value is itself a sequence of data objects."""
    assert _is_two_digits(tag)
    number = int(tag)
    return 26 <= number <= 51 or number in (62, 64) or 80 <= number <= 99


def join_path(parent: str, tag: str) -> str:
    """Return the flat path of `tag` under `parent` ("26" + "01" gives "26.01")."""
    return f"{parent}.{tag}" if parent else tag


def parse_objects(text: str, *, parent: str = "") -> tuple[DataObject, ...]:
    """Parse one level of objects from `text`; raise the first structural error, by position.

    Within an object the tag is checked before the length and the length before uniqueness.
    """
    objects: list[DataObject] = []
    seen: set[str] = set()
    position = 0
    while position < len(text):
        item, position = _read_object(text, position, parent)
        if item.tag in seen:
            raise QrError(
                QrErrorCode.TAG_DUPLICATE,
                f"tag {item.tag} appears more than once",
                field=join_path(parent, item.tag),
            )
        seen.add(item.tag)
        objects.append(item)
    assert position == len(text)
    return tuple(objects)


def _read_object(text: str, position: int, parent: str) -> tuple[DataObject, int]:
    tag = text[position : position + 2]
    if not _is_two_digits(tag):
        raise QrError(
            QrErrorCode.TAG_INVALID,
            f"tag at character {position} is not two digits",
            field=join_path(parent, tag),
        )
    path = join_path(parent, tag)
    length_text = text[position + 2 : position + 4]
    if not _is_two_digits(length_text) or length_text == "00":
        raise QrError(QrErrorCode.LENGTH_INVALID, f"length of {path} is not 01-99", field=path)
    start = position + 4
    end = start + int(length_text)
    if end > len(text):
        raise QrError(QrErrorCode.LENGTH_INVALID, f"length of {path} overruns", field=path)
    return DataObject(tag, text[start:end]), end


def format_object(tag: str, value: str) -> str:
    """Serialise one object; the tag and the value's length are the caller's to guarantee."""
    assert _is_two_digits(tag), tag
    assert 1 <= len(value) <= VALUE_CHARS_MAX, (tag, len(value))
    return f"{tag}{len(value):02d}{value}"


def serialize(objects: Iterable[tuple[str, str]]) -> str:
    """Serialise `(tag, value)` pairs in the given order."""
    return "".join(format_object(tag, value) for tag, value in objects)


def _is_two_digits(text: str) -> bool:
    # str.isdigit() alone would accept "²" and Arabic-Indic digits; EMVCo means ASCII only.
    return len(text) == 2 and text.isascii() and text.isdigit()
