"""The strict QRIS content check: every rule broken by a decoded payload, as values.

A decoded payload is structurally sound; this pass reports what QRIS additionally demands.
It never raises for a broken rule: it runs every rule in `QRIS_RULES` order and returns all
findings, each an error (the code is not acceptable QRIS) or a warning (doubtful but common
in real codes, such as a code without national template 51).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from interchange.qr.amount import parse_percentage_bps, require_amount_text
from interchange.qr.decode import PAYLOAD_CHARS_MAX, DecodedQr
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.fees import require_fee_shape, require_fixed_fee_text
from interchange.qr.fields import (
    is_dynamic,
    require_city,
    require_country,
    require_currency_code,
    require_mcc,
    require_name,
    require_postal_code,
    require_text,
)

__all__ = ["QRIS_MANDATORY_TAGS", "QRIS_RULES", "QrisFinding", "Severity", "check_qris"]

QRIS_MANDATORY_TAGS = ("52", "53", "58", "59", "60")
_AMOUNT_DECIMALS_MAX = 2
_ADDITIONAL_DATA_SUB_TAGS = tuple(f"{number:02d}" for number in range(1, 10))


class Severity(StrEnum):
    """How much a finding matters: errors make a code unacceptable, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class QrisFinding:
    """One broken rule: a stable code, its severity, the field's path and a message."""

    code: QrErrorCode
    severity: Severity
    field: str | None
    message: str


Rule = Callable[[DecodedQr], Iterable[QrisFinding]]


def check_qris(decoded: DecodedQr) -> tuple[QrisFinding, ...]:
    """Run every rule in `QRIS_RULES` order and return all findings (empty when clean)."""
    return tuple(finding for rule in QRIS_RULES for finding in rule(decoded))


def _capture(check: Callable[[], object]) -> list[QrisFinding]:
    # The field rules raise, because encoding wants the first failure; here every failure
    # is wanted, so each rule's error becomes a value.
    try:
        check()
    except QrError as exc:
        return [QrisFinding(exc.code, Severity.ERROR, exc.field, exc.message)]
    return []


def _finding(code: QrErrorCode, severity: Severity, field: str, message: str) -> QrisFinding:
    return QrisFinding(code, severity, field, message)


def _payload_length(decoded: DecodedQr) -> list[QrisFinding]:
    if len(decoded.payload) <= PAYLOAD_CHARS_MAX:
        return []
    message = f"{len(decoded.payload)} characters, over {PAYLOAD_CHARS_MAX}"
    return [QrisFinding(QrErrorCode.PAYLOAD_TOO_LONG, Severity.ERROR, None, message)]


def _mandatory_tags(decoded: DecodedQr) -> list[QrisFinding]:
    return [
        _finding(QrErrorCode.MANDATORY_TAG_MISSING, Severity.ERROR, tag, f"tag {tag} missing")
        for tag in QRIS_MANDATORY_TAGS
        if decoded.get(tag) is None
    ]


def _point_of_initiation(decoded: DecodedQr) -> list[QrisFinding]:
    return _capture(lambda: is_dynamic(decoded.get("01")))


def _national_template(decoded: DecodedQr) -> list[QrisFinding]:
    # Many real QRIS codes, static ones above all, omit tag 51; it is doubtful, not fatal.
    if decoded.get("51") is not None:
        return []
    message = "no national QRIS template (51)"
    return [_finding(QrErrorCode.QRIS_TEMPLATE_MISSING, Severity.WARNING, "51", message)]


def _field_rule(tag: str, check: Callable[[str], object]) -> Rule:
    def _rule(decoded: DecodedQr) -> list[QrisFinding]:
        value = decoded.get(tag)
        return [] if value is None else _capture(lambda: check(value))

    return _rule


def _amount_text(text: str) -> None:
    require_amount_text(text, decimals_max=_AMOUNT_DECIMALS_MAX)


def _amount_presence(decoded: DecodedQr) -> list[QrisFinding]:
    initiation, amount = decoded.get("01"), decoded.get("54")
    if initiation == "12" and amount is None:
        message = "a dynamic code carries no amount"
        return [_finding(QrErrorCode.AMOUNT_MISSING, Severity.ERROR, "54", message)]
    if initiation == "11" and amount is not None:
        message = "a static code carries an amount"
        return [_finding(QrErrorCode.AMOUNT_UNEXPECTED, Severity.WARNING, "54", message)]
    return []


def _fees(decoded: DecodedQr) -> list[QrisFinding]:
    fixed, percentage = decoded.get("56"), decoded.get("57")
    shape = _capture(lambda: require_fee_shape(decoded.get("55"), fixed, percentage))
    if shape:
        return shape
    if fixed is not None:
        return _capture(lambda: require_fixed_fee_text(fixed, decimals_max=_AMOUNT_DECIMALS_MAX))
    return [] if percentage is None else _capture(lambda: parse_percentage_bps(percentage))


def _additional_data(decoded: DecodedQr) -> list[QrisFinding]:
    findings: list[QrisFinding] = []
    for sub_tag in _ADDITIONAL_DATA_SUB_TAGS:
        value = decoded.get(f"62.{sub_tag}")
        if value is not None:
            findings += _capture(partial(require_text, value, field=f"62.{sub_tag}"))
    return findings


QRIS_RULES: tuple[Rule, ...] = (
    _payload_length,
    _mandatory_tags,
    _point_of_initiation,
    _national_template,
    _field_rule("52", require_mcc),
    _field_rule("53", require_currency_code),
    _field_rule("54", _amount_text),
    _amount_presence,
    _fees,
    _field_rule("58", require_country),
    _field_rule("59", require_name),
    _field_rule("60", require_city),
    _field_rule("61", require_postal_code),
    _additional_data,
)
