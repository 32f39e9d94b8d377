"""Hostile input to the QR layer: it may only fail by a named code, and never decode wrongly.

Inputs come from valid payloads mutated character by character (often with the CRC
recomputed afterwards, so that the mutation reaches the checks behind the CRC), from
well-framed templates holding hostile sub-objects, from hostile money fields in every
supported currency, and from values that are not text at all. The oracle: `decode`,
`check_qris` and `extract_payment_request` raise nothing but `QrError`; `parse_or_refuse`
returns a refusal and never raises; `kopnet qr decode` and `kopnet qr render` print JSON
and exit 0 or 2; and whatever is accepted means exactly what its text says.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from unicodedata import category

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from interchange.payment_batch import parse_or_refuse
from interchange.payment_model import Authorize, PaymentOutcome, QrPurchase
from interchange.qr.amount import NUMERIC_CURRENCIES
from interchange.qr.cli import qr_app
from interchange.qr.crc import crc16_ccitt_false
from interchange.qr.decode import decode
from interchange.qr.encode import encode_merchant_qr
from interchange.qr.errors import QrError, QrErrorCode
from interchange.qr.kopnet import KopnetPaymentRequest, extract_payment_request
from interchange.qr.qris import QrisFinding, check_qris
from interchange.qr.spec import KOPNET_GLOBAL_ID
from interchange.qr.tlv import is_template_tag, serialize
from interchange.routing import ParsedCommand
from ledger.currency import currency_exponent
from ledger.money import Money
from tests.unit.qr.builders import BASE_OBJECTS, KOPNET_ACCOUNT, payload_from
from tests.unit.qr.test_properties import specs

runner = CliRunner()
QR_CODES = frozenset(code.value for code in QrErrorCode)

# Characters chosen to break assumptions: digits of other scripts, letters whose upper case
# is ASCII, invisible and bidi characters, astral characters, controls and lone surrogates.
NASTY_CHARS = [
    "٠",
    "²",
    "５",
    "ı",
    "ſ",
    "ß",
    "K",
    "\u00a0",
    "\u200b",
    "\u202e",
    "\ufeff",
    "\u2028",
    "漢",
    "😀",
    "\udc80",
    "\ud800",
    "\x00",
    "\n",
    "\x7f",
    "\x85",
]
HOSTILE_CHARS = st.one_of(
    st.sampled_from("0123456789"),
    st.characters(max_codepoint=0x7F),
    st.sampled_from(NASTY_CHARS),
    st.characters(),
)
HOSTILE_TEXT = st.text(HOSTILE_CHARS, max_size=20)
# Text that passes the decoder's character check, so that it reaches the content rules.
PASSABLE_TEXT = st.text(
    st.one_of(
        st.sampled_from("0123456789"),
        st.sampled_from([char for char in NASTY_CHARS if category(char) not in ("Cc", "Cs")]),
        st.characters(blacklist_categories=("Cc", "Cs")),
    ),
    max_size=20,
)
# Amount-like text a careless parser would accept: exponents, signs, spaces, specials.
NASTY_AMOUNTS = [
    "1e3",
    "1E3",
    "+5",
    "-5",
    " 5",
    "5 ",
    "5.",
    ".5",
    "NaN",
    "sNaN",
    "Infinity",
    "-0",
    "0.0",
    "1_000",
    "1,000",
    "٥",
    "５",
    "5.000",
    "5.0000",
    "0x10",
    "9999999999999",
    "0000000000001",
    "5.5.5",
]
AMOUNT_TEXT = st.one_of(
    st.sampled_from(NASTY_AMOUNTS),
    st.from_regex(r"[0-9]{1,13}(\.[0-9]{0,4})?", fullmatch=True),
    st.text(st.sampled_from("0123456789.+-eE _"), min_size=1, max_size=14),
)


def seal(body: str) -> str:
    """Append "6304" and the CRC of its prefix; lone surrogates pass as their raw code units.

    The builders' `with_crc` cannot seal a body holding a surrogate (it has no UTF-8 form),
    and a hostile sender does not care: this gives such a payload a plausible CRC anyway.
    """
    prefix = body + "6304"
    return prefix + f"{crc16_ccitt_false(prefix.encode('utf-8', 'surrogatepass')):04X}"


def length_positions(body: str) -> list[int]:
    """Positions of the length fields of `body`, top level and in templates, up to a break."""
    positions: list[int] = []

    def walk(text: str, offset: int, nested: bool) -> None:
        position = 0
        while position + 4 <= len(text):
            head = text[position : position + 4]
            if not (head.isascii() and head.isdigit()):
                return  # An earlier mutation broke the framing here; stop walking.
            tag, length = head[:2], int(head[2:])
            positions.append(offset + position + 2)
            if not nested and is_template_tag(tag):
                walk(text[position + 4 : position + 4 + length], offset + position + 4, True)
            position += 4 + length

    walk(body, 0, False)
    return positions


@st.composite
def mutated_payloads(draw: st.DrawFn) -> str:
    """A valid payload with one to four character-level mutations, CRC often recomputed."""
    payload = encode_merchant_qr(draw(specs()))
    body, crc = payload[:-8], payload[-4:]
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["replace", "delete", "insert", "length", "duplicate"]))
        position = draw(st.integers(0, max(len(body) - 1, 0)))
        if operation == "replace" and body:
            body = body[:position] + draw(HOSTILE_CHARS) + body[position + 1 :]
        elif operation == "delete":
            body = body[:position] + body[position + 1 :]
        elif operation == "insert":
            body = body[:position] + draw(HOSTILE_TEXT) + body[position:]
        elif operation == "duplicate":
            body = body[:position] + body[position : position + 6] + body[position:]
        else:
            body = _change_a_length(draw, body)
    ending = draw(st.sampled_from(["recompute", "recompute", "keep", "lower", "none"]))
    if ending == "recompute":
        return seal(body)
    if ending == "lower":
        sealed = seal(body)
        return sealed[:-4] + sealed[-4:].lower()
    return body + ("6304" + crc if ending == "keep" else "")


def _change_a_length(draw: st.DrawFn, body: str) -> str:
    positions = length_positions(body)
    if not positions:
        return body
    position = draw(st.sampled_from(positions))
    digits = draw(
        st.one_of(
            st.integers(0, 99).map(lambda number: f"{number:02d}"),
            st.text(HOSTILE_CHARS, min_size=2, max_size=2),
        )
    )
    return body[:position] + digits + body[position + 2 :]


@st.composite
def framed_templates(draw: st.DrawFn) -> str:
    """A payload framed correctly at every level, templates full of hostile sub-objects."""
    objects = dict(BASE_OBJECTS)
    for tag in draw(st.lists(st.sampled_from(["26", "27", "50", "62", "64", "80", "99"]))):
        values = st.one_of(PASSABLE_TEXT, PASSABLE_TEXT, HOSTILE_TEXT).filter(bool)
        subs = draw(st.lists(st.tuples(st.integers(0, 99), values), max_size=4))
        value = "".join(f"{sub:02d}{len(text):02d}{text}" for sub, text in subs)
        if 1 <= len(value) <= 99:
            objects[tag] = value
    return seal(serialize(sorted(objects.items())))


def decode_everything(payload: Any) -> KopnetPaymentRequest | None:
    """Run every public pass on `payload`; only `QrError` may escape, and is swallowed."""
    try:
        decoded = decode(payload)
    except QrError:
        return None
    findings = check_qris(decoded)
    assert all(isinstance(finding, QrisFinding) for finding in findings)
    json.dumps(decoded.as_dict(), ensure_ascii=False)
    try:
        return extract_payment_request(decoded)
    except QrError:
        return None


def assert_means_what_it_says(text: str | None, money: Money | None) -> None:
    """An accepted amount is plain ASCII digits within the currency's exponent, exactly."""
    if money is None:
        return
    assert text is not None
    exponent = currency_exponent(money.currency)
    pattern = r"[0-9]+" if exponent == 0 else rf"[0-9]+(\.[0-9]{{1,{exponent}}})?"
    assert re.fullmatch(pattern, text, flags=re.ASCII), (text, money)
    assert len(text) <= 13, text
    assert money.is_positive(), money
    assert Decimal(text) == money.to_decimal(), (text, money)


# Decode, check and extract: nothing escapes but QrError.


@given(mutated_payloads())
def test_mutated_valid_payloads_fail_only_by_code_through_every_pass(payload: str) -> None:
    request = decode_everything(payload)
    if request is not None:
        decoded = decode(payload)
        assert_means_what_it_says(decoded.get("54"), request.amount)


@given(framed_templates())
def test_templates_full_of_hostile_sub_objects_fail_only_by_code(payload: str) -> None:
    decode_everything(payload)


@given(st.text(HOSTILE_CHARS, max_size=60).map(seal))
def test_hostile_text_sealed_with_a_valid_crc_fails_only_by_code(payload: str) -> None:
    decode_everything(payload)


@pytest.mark.parametrize(
    "payload",
    [
        "6304",
        "63040000",
        "0" * 7089,
        seal(""),
        seal("0002016304ABCD"),
        seal("000201" + "0100"),
        seal("000201" + "26" + "99" + "0" * 99),
        seal("000201" + "2604" + "0004"),
        "\ud800" + seal("000201"),
    ],
)
def test_degenerate_payloads_fail_only_by_code(payload: str) -> None:
    assert decode_everything(payload) is None


# Money fields: refused by code, or read exactly as written.


@given(
    initiation=st.sampled_from(["11", "12"]),
    currency=st.sampled_from(sorted(NUMERIC_CURRENCIES)),
    amount=st.none() | AMOUNT_TEXT,
    fee=st.sampled_from([{}, {"55": "02"}, {"55": "01"}]),
    fixed_fee=AMOUNT_TEXT,
)
def test_an_accepted_amount_or_fixed_fee_means_exactly_what_its_text_says(
    initiation: str, currency: str, amount: str | None, fee: dict[str, str], fixed_fee: str
) -> None:
    changes: dict[str, str | None] = {"01": initiation, "53": currency, "54": amount, **fee}
    if fee.get("55") == "02":
        changes["56"] = fixed_fee
    request = decode_everything(payload_from(changes))
    if request is None:
        return
    assert_means_what_it_says(amount, request.amount)
    fixed = None if request.fee_rule is None else request.fee_rule.fixed_fee
    assert_means_what_it_says(changes.get("56"), fixed)


# The kopnet template: which code is kopnet's is decided by ASCII text only.


@pytest.mark.parametrize("global_id", ["ıd.kopnet.www", KOPNET_GLOBAL_ID.replace("I", "ı")])
def test_a_global_id_that_only_upper_cases_to_kopnets_is_not_kopnet(global_id: str) -> None:
    """A global id that upper-cases to kopnet's only through a look-alike is not kopnet's.

    Python's `str.upper()` maps the dotless "ı" (U+0131) to ASCII "I", so "ıd.kopnet.www"
    (which no DNS name can be) was read as a kopnet payment request. A reverse domain name
    is compared in ASCII case only; the look-alike is `qr_not_kopnet`.
    """
    account = serialize((("00", global_id), ("01", "936000990000001234"), ("03", "UMI")))
    decoded = decode(payload_from({"26": account}))
    with pytest.raises(QrError) as caught:
        extract_payment_request(decoded)
    assert caught.value.code is QrErrorCode.NOT_KOPNET


# parse_command through parse_or_refuse: a refusal outcome, never an exception.


def refusal_or_parsed(command: QrPurchase | Authorize) -> ParsedCommand | PaymentOutcome:
    outcome = parse_or_refuse(command)
    assert isinstance(outcome, ParsedCommand | PaymentOutcome)
    if isinstance(outcome, PaymentOutcome):
        assert outcome.code is not None and not outcome.ok
    return outcome


@given(st.one_of(mutated_payloads(), st.text(HOSTILE_CHARS, max_size=80), framed_templates()))
def test_parse_or_refuse_refuses_any_hostile_qr_text(payload: str) -> None:
    refusal_or_parsed(QrPurchase("p-1", 1, payload))
    refusal_or_parsed(Authorize("p-1", 1, payload, timeout_s=60))


@pytest.mark.parametrize("payload", [None, b"000201", 5, ["000201"]])
def test_parse_or_refuse_refuses_a_qr_payload_that_is_not_text(payload: Any) -> None:
    """A `qr_payload` that is not text is refused, like any other malformed field.

    `parse_command` type-checks `payment_id`, the amounts and `timeout_s`; the payload went
    to `decode` unchecked and escaped as TypeError or AttributeError.
    """
    outcome = refusal_or_parsed(QrPurchase("p-1", 1, payload))
    assert isinstance(outcome, PaymentOutcome)


# The `qr` command line: JSON and exit 0 or 2, never a traceback.


def run_cli(*arguments: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(qr_app, list(arguments))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2), result.exit_code
    document: dict[str, Any] = json.loads(result.stdout)
    if result.exit_code == 2:
        assert document["error"] in QR_CODES
    else:
        assert "tags" in document and "findings" in document
    return result.exit_code, document


@settings(max_examples=25)
@given(st.one_of(mutated_payloads(), framed_templates()))
def test_cli_decode_prints_json_and_exits_0_or_2_on_hostile_payloads(payload: str) -> None:
    run_cli("decode", payload)


@pytest.mark.parametrize(
    "payload",
    ["\x00", "\ud800", "\u202e" + payload_from(), "0" * 7090, seal("000201" + "2604ı.xx")],
)
def test_cli_decode_prints_a_code_for_degenerate_payloads(payload: str) -> None:
    assert run_cli("decode", payload)[0] == 2


def too_big_for_any_symbol() -> str:
    """A payload that decodes (valid framing and CRC) but is longer than a QR symbol holds.

    Fifteen primitive RFU tags (65-79) of 99 CJK characters: 1,623 characters, 4,593 UTF-8
    bytes, past the 2,331 bytes of a version 40-M symbol and within the decoder's 7,089.
    """
    objects = {"00": "01", "01": "11", "26": KOPNET_ACCOUNT}
    objects.update({f"{tag}": "漢" * 99 for tag in range(65, 80)})
    return seal(serialize(sorted(objects.items())))


def test_cli_render_refuses_a_payload_too_big_for_a_qr_symbol(tmp_path: Path) -> None:
    """A payload that decodes but fits no QR symbol is refused with a code, exit 2.

    `decode` bounds payloads at 7,089 characters, but a symbol at error level M holds at
    most 2,331 bytes; segno's DataOverflowError escaped as a traceback. No file is written.
    """
    out = tmp_path / "code.svg"
    payload = too_big_for_any_symbol()
    decode(payload)  # The payload itself is acceptable to the decoder.
    code, document = run_cli("render", payload, "--out", str(out))
    assert (code, document["error"]) == (2, "qr_render_too_large")
    assert not out.exists()


def test_cli_render_to_a_missing_directory_exits_2_without_a_traceback(tmp_path: Path) -> None:
    """`kopnet qr render --out` into a directory that does not exist exits 2 with a code.

    The `--out` path is the caller's input like the payload; the FileNotFoundError from
    writing it escaped as a traceback.
    """
    out = tmp_path / "missing" / "code.svg"
    code, document = run_cli("render", payload_from(), "--out", str(out))
    assert (code, document["error"]) == (2, "qr_render_output_unwritable")
