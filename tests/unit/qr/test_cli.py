"""The `qr` Typer app: JSON out, exit 0 on success and 2 with a code on a QrError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from interchange.qr.cli import qr_app
from interchange.qr.decode import decode
from tests.unit.qr.builders import load_vectors, payload_from

runner = CliRunner()
ENCODE_REQUIRED = ["--merchant-network-id", "KOP-1", "--merchant-name", "Warung Bu Sri"]
ENCODE_REQUIRED += ["--merchant-city", "Sleman", "--mcc", "5812"]


def run(*arguments: str) -> tuple[int, Any]:
    result = runner.invoke(qr_app, list(arguments))
    output = result.stdout.strip()
    return result.exit_code, json.loads(output) if output.startswith("{") else output


def test_decode_prints_tags_and_findings_as_json_and_exits_0() -> None:
    code, document = run("decode", payload_from({"51": None}))
    assert code == 0
    assert document["tags"]["26.00"] == "ID.KOPNET.WWW"
    assert [(f["code"], f["severity"]) for f in document["findings"]] == [
        ("qr_qris_template_missing", "warning")
    ]


def test_decode_of_a_real_vector_with_unicode_exits_0() -> None:
    annex_b = next(v for v in load_vectors() if v["expected"].get("64.01") == "最佳运输")
    code, document = run("decode", annex_b["payload"])
    assert code == 0
    assert document["tags"]["64.02"] == "北京"


def test_decode_of_a_broken_payload_prints_the_error_code_and_exits_2() -> None:
    payload = payload_from()
    code, document = run("decode", payload[:-4] + "0000")
    assert code == 2
    assert document["error"] == "qr_crc_mismatch"
    assert document["field"] == "63"


def test_encode_prints_a_static_payload_that_decodes() -> None:
    code, payload = run("encode", *ENCODE_REQUIRED)
    assert code == 0
    assert decode(payload).get("01") == "11"


def test_encode_with_an_amount_prints_a_dynamic_payload() -> None:
    arguments = ["--amount", "39000", "--fixed-fee", "500", "--bill-number", "INV-1"]
    code, payload = run("encode", *ENCODE_REQUIRED, *arguments)
    assert code == 0
    decoded = decode(payload)
    assert (decoded.get("01"), decoded.get("54"), decoded.get("56")) == ("12", "39000.00", "500.00")
    assert decoded.get("62.01") == "INV-1"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--merchant-name", "N" * 26], "qr_name_too_long"),
        (["--amount", "12.345"], "qr_amount_invalid"),
        (["--amount", "0"], "qr_amount_invalid"),
        (["--criteria", "BIG"], "qr_criteria_invalid"),
        (["--currency", "XAU"], "qr_currency_unsupported"),
        (["--tip-prompt", "--percentage-fee", "1"], "qr_tip_value_invalid"),
        (["--percentage-fee", "101"], "qr_tip_value_invalid"),
        (["--mcc", "58"], "qr_mcc_invalid"),
    ],
)
def test_encode_with_bad_input_prints_the_error_code_and_exits_2(
    arguments: list[str], error: str
) -> None:
    code, document = run("encode", *ENCODE_REQUIRED, *arguments)
    assert code == 2
    assert document["error"] == error


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_render_writes_an_image_file(tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"code{suffix}"
    code, _ = run("render", payload_from(), "--out", str(out))
    assert code == 0
    assert out.read_bytes().startswith(magic)


def test_render_refuses_an_unknown_image_format(tmp_path: Path) -> None:
    out = tmp_path / "code.gif"
    code, document = run("render", payload_from(), "--out", str(out))
    assert code == 2
    assert document["error"] == "qr_render_format_invalid"
    assert not out.exists()


def test_render_refuses_a_payload_that_does_not_decode(tmp_path: Path) -> None:
    out = tmp_path / "code.svg"
    code, document = run("render", "000201", "--out", str(out))
    assert code == 2
    assert document["error"] == "qr_crc_missing"
    assert not out.exists()
