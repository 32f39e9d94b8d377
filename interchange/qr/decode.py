"""Decoding any EMVCo merchant-presented QR payload into an immutable tree of data objects.

Invariants of a `DecodedQr` returned by `decode`: the CRC matches, tag 00 is first and is
"01", tag 63 is last, there is at least one merchant account tag (02–51), tags are unique per
level, and every template's value parsed into sub-objects. Content rules beyond that (QRIS
field formats, tags 52/53/58/59/60 that some networks omit) belong to `check_qris` and to
`extract_payment_request`. The check order is documented in `interchange.qr.errors`.

The CRC hex is compared case-insensitively: the checksum is a number, and a lower-case
rendering of the right number does not make a payload corrupt.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from interchange.qr.crc import crc_hex
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.tlv import DataObject, is_template_tag, join_path, parse_objects

__all__ = ["PAYLOAD_CHARS_MAX", "PAYLOAD_CHARS_MAX_SCANNED", "DecodedQr", "decode"]

# EMVCo's limit: the encoder never exceeds it and `check_qris` reports payloads over it.
PAYLOAD_CHARS_MAX = 512
# The most characters any QR symbol can carry (version 40-L, numeric mode). Real payloads
# exceed EMVCo's 512 (SGQR samples run past 1,000), so the decoder only bounds its work here.
PAYLOAD_CHARS_MAX_SCANNED = 7089
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})


@dataclass(frozen=True, slots=True)
class DecodedQr:
    """A decoded payload: the original text and its top-level data objects, in order."""

    payload: str
    objects: tuple[DataObject, ...]
    # Every value by its flat path, made once: a payment looks up some twenty of them. A
    # plain dict, never changed after this, so that a decoded code copies and pickles.
    _values: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_values", self.as_dict())

    def get(self, path: str) -> str | None:
        """Return the value at `path` ("59", or "26.01" for sub-tag 01 of tag 26), or None."""
        return self._values.get(path)

    def tags(self) -> tuple[str, ...]:
        """Return the top-level tags in payload order."""
        return tuple(item.tag for item in self.objects)

    def as_dict(self) -> dict[str, str]:
        """Return every value by flat path, templates followed by their sub-tags."""
        flat: dict[str, str] = {}
        for item in self.objects:
            flat[item.tag] = item.value
            for child in item.children:
                flat[join_path(item.tag, child.tag)] = child.value
        return flat


def decode(payload: str) -> DecodedQr:
    """Decode an EMVCo payload; raise `QrError` with the first failing check's code."""
    _check_text(payload)
    top = parse_objects(payload)
    _check_crc(payload, top)
    objects = tuple(_with_children(item) for item in top)
    _check_mandatory(objects)
    _check_format_indicator(objects)
    return DecodedQr(payload, objects)


def _check_text(payload: str) -> None:
    # A payload reaches here from JSON and Python callers too, not only from a scanner.
    if not isinstance(payload, str):
        raise QrError(QrErrorCode.CHARACTERS_INVALID, "the payload must be text")
    if len(payload) > PAYLOAD_CHARS_MAX_SCANNED:
        raise QrError(
            QrErrorCode.PAYLOAD_TOO_LONG,
            f"payload has {len(payload)} characters, more than {PAYLOAD_CHARS_MAX_SCANNED}",
        )
    # Printable ASCII, what nearly every code holds, has neither; only other text is scanned.
    if payload.isascii() and payload.isprintable():
        return
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in payload):
        raise QrError(
            QrErrorCode.CHARACTERS_INVALID, "payload holds a control character or a surrogate"
        )


def _check_crc(payload: str, top: tuple[DataObject, ...]) -> None:
    if not top or top[-1].tag != "63" or len(top[-1].value) != 4:
        raise QrError(QrErrorCode.CRC_MISSING, "the last object is not a CRC", field="63")
    given = top[-1].value
    computed = crc_hex(payload[:-4])
    if not all(char in _HEX_DIGITS for char in given) or given.upper() != computed:
        raise QrError(QrErrorCode.CRC_MISMATCH, f"CRC is {given}, computed {computed}", field="63")


def _with_children(item: DataObject) -> DataObject:
    if not is_template_tag(item.tag):
        return item
    return DataObject(item.tag, item.value, parse_objects(item.value, parent=item.tag))


def _check_mandatory(objects: tuple[DataObject, ...]) -> None:
    tags = {item.tag for item in objects}
    if "00" not in tags:
        raise QrError(QrErrorCode.MANDATORY_TAG_MISSING, "no payload format indicator", field="00")
    if not any(2 <= int(tag) <= 51 for tag in tags):
        raise QrError(
            QrErrorCode.MANDATORY_TAG_MISSING, "no merchant account information (tags 02-51)"
        )


def _check_format_indicator(objects: tuple[DataObject, ...]) -> None:
    first = objects[0]
    if first.tag != "00" or first.value != "01":
        raise QrError(
            QrErrorCode.FORMAT_INDICATOR_INVALID,
            "the payload must open with format indicator 00 = 01",
            field="00",
        )
