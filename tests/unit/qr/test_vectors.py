"""The shared real-world EMVCo vectors: valid ones decode exactly, invalid ones are caught."""

from __future__ import annotations

from typing import Any

import pytest

from interchange.qr.decode import decode
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.kopnet import extract_payment_request
from interchange.qr.qris import Severity, check_qris
from tests.unit.qr.builders import load_vectors

Code = QrErrorCode
VECTORS = load_vectors()
REJECTED_CODES = {
    "invalid-crc": {Code.CRC_MISMATCH, Code.CRC_MISSING, Code.LENGTH_INVALID},
    "invalid-length": {Code.LENGTH_INVALID},
    "invalid-structure": {Code.TAG_DUPLICATE, Code.TAG_INVALID},
}


def vectors_where(predicate: Any) -> list[Any]:
    return [
        pytest.param(vector, id=f"{index}-{vector['category']}")
        for index, vector in enumerate(VECTORS)
        if predicate(vector)
    ]


def test_the_shared_file_holds_all_49_vectors() -> None:
    assert len(VECTORS) == 49


@pytest.mark.parametrize("vector", vectors_where(lambda v: v["valid"]))
def test_valid_vector_decodes_and_reproduces_every_expected_value(vector: Any) -> None:
    decoded = decode(vector["payload"])
    actual = {path: decoded.get(path) for path in vector["expected"]}
    assert actual == vector["expected"]


@pytest.mark.parametrize("vector", vectors_where(lambda v: v["category"] in REJECTED_CODES))
def test_broken_vector_is_rejected_with_a_named_error(vector: Any) -> None:
    with pytest.raises(QrError) as caught:
        decode(vector["payload"])
    assert caught.value.code in REJECTED_CODES[vector["category"]]


@pytest.mark.parametrize("vector", vectors_where(lambda v: v["category"] == "invalid-content"))
def test_content_vector_decodes_but_the_strict_check_flags_it(vector: Any) -> None:
    findings = check_qris(decode(vector["payload"]))
    flagged = {(finding.code, finding.severity) for finding in findings}
    expected = {(Code.QRIS_TEMPLATE_MISSING, Severity.WARNING)}
    if "26 chars" in vector["description"]:
        expected.add((Code.NAME_TOO_LONG, Severity.ERROR))
    if "MCC" in vector["description"]:
        expected.add((Code.MCC_INVALID, Severity.ERROR))
    assert flagged == expected


@pytest.mark.parametrize("vector", vectors_where(lambda v: v["category"].startswith("qris-")))
def test_real_qris_vector_has_no_error_findings(vector: Any) -> None:
    findings = check_qris(decode(vector["payload"]))
    assert [f for f in findings if f.severity is Severity.ERROR] == []


@pytest.mark.parametrize("vector", vectors_where(lambda v: v["valid"]))
def test_another_networks_valid_vector_is_not_kopnet(vector: Any) -> None:
    with pytest.raises(QrError) as caught:
        extract_payment_request(decode(vector["payload"]))
    assert caught.value.code is Code.NOT_KOPNET


def test_the_39000_00_amount_vector_keeps_its_amount_string_exactly() -> None:
    vector = next(v for v in VECTORS if v["expected"].get("54") == "39000.00")
    assert decode(vector["payload"]).get("54") == "39000.00"
