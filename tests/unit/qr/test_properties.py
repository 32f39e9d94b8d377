"""Hypothesis properties: round trips, CRC detection and a decoder that only fails by code."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from interchange.qr.decode import decode
from interchange.qr.encode import encode_merchant_qr
from interchange.qr.errors import QrError
from interchange.qr.fees import FeeRule, TipIndicator
from interchange.qr.kopnet import extract_payment_request
from interchange.qr.qris import check_qris
from interchange.qr.spec import MerchantCriteria, MerchantQrSpec
from ledger.money import Money
from tests.unit.qr.builders import payload_from, with_crc

# Any Unicode but control characters and lone surrogates, astral planes included.
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
IDENTIFIERS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", fullmatch=True)
# Below 10^11 minor units every exponent (0, 2, 3) renders within 54's 13 characters.
MINOR_UNITS = st.integers(min_value=1, max_value=10**11 - 1)


def text(chars_max: int) -> st.SearchStrategy[str]:
    return st.text(PRINTABLE, min_size=1, max_size=chars_max)


@st.composite
def specs(draw: st.DrawFn) -> MerchantQrSpec:
    currency = draw(st.sampled_from(["IDR", "JPY", "KWD", "USD"]))
    money = st.builds(Money, MINOR_UNITS, st.just(currency))
    fee_rule = st.one_of(
        st.none(),
        st.just(FeeRule(TipIndicator.PAYER_ENTERS_TIP)),
        st.builds(FeeRule, st.just(TipIndicator.FIXED_FEE), fixed_fee=money),
        st.builds(
            FeeRule,
            st.just(TipIndicator.PERCENTAGE_FEE),
            percentage_bps=st.integers(1, 10_000),
        ),
    )
    return MerchantQrSpec(
        merchant_network_id=draw(IDENTIFIERS),
        merchant_name=draw(text(25)),
        merchant_city=draw(text(15)),
        mcc=draw(st.from_regex(r"[0-9]{4}", fullmatch=True)),
        criteria=draw(st.sampled_from(MerchantCriteria)),
        merchant_id=draw(st.none() | IDENTIFIERS),
        national_merchant_id=draw(st.none() | st.from_regex(r"[A-Z0-9]{1,15}", fullmatch=True)),
        postal_code=draw(st.none() | text(10)),
        currency=currency,
        amount=draw(st.none() | money),
        fee_rule=draw(fee_rule),
        bill_number=draw(st.none() | text(25)),
        reference_label=draw(st.none() | text(25)),
        terminal_label=draw(st.none() | text(25)),
    )


@given(specs())
def test_every_valid_spec_round_trips_through_encode_decode_and_extract(
    spec: MerchantQrSpec,
) -> None:
    decoded = decode(encode_merchant_qr(spec))
    request = extract_payment_request(decoded)
    assert (request.merchant_network_id, request.merchant_id) == (
        spec.merchant_network_id,
        spec.merchant_id,
    )
    assert (request.merchant_name, request.merchant_city) == (
        spec.merchant_name,
        spec.merchant_city,
    )
    assert (request.mcc, request.criteria, request.currency) == (
        spec.mcc,
        spec.criteria,
        spec.currency,
    )
    assert (request.amount, request.is_dynamic, request.fee_rule) == (
        spec.amount,
        spec.is_dynamic,
        spec.fee_rule,
    )
    labels = (request.bill_number, request.reference_label, request.terminal_label)
    assert labels == (spec.bill_number, spec.reference_label, spec.terminal_label)
    assert (decoded.get("61"), decoded.get("51.02")) == (
        spec.postal_code,
        spec.national_merchant_id,
    )


@given(specs())
def test_every_encoded_payload_stays_within_512_characters(spec: MerchantQrSpec) -> None:
    assert len(encode_merchant_qr(spec)) <= 512


@given(specs(), st.data())
def test_crc_detects_any_single_ascii_character_change(
    spec: MerchantQrSpec, data: st.DataObject
) -> None:
    payload = encode_merchant_qr(spec)
    ascii_positions = [i for i, char in enumerate(payload) if char.isascii()]
    position = data.draw(st.sampled_from(ascii_positions))
    replacement = data.draw(st.characters(min_codepoint=0x20, max_codepoint=0x7E))
    original = payload[position]
    assume(replacement != original)
    # Changing the case of a CRC hex letter keeps the same number; the decoder allows that.
    in_crc = position >= len(payload) - 4
    assume(not (in_crc and replacement.upper() == original.upper()))
    changed = payload[:position] + replacement + payload[position + 1 :]
    with pytest.raises(QrError):
        decode(changed)


def decode_all_the_way(payload: str) -> None:
    try:
        decoded = decode(payload)
    except QrError:
        return
    check_qris(decoded)
    try:
        extract_payment_request(decoded)
    except QrError:
        return


@given(st.text(max_size=400))
def test_decoder_raises_only_qr_errors_on_arbitrary_text(payload: str) -> None:
    decode_all_the_way(payload)


@given(st.text(alphabet="0123456789AB.*6", max_size=300))
def test_decoder_raises_only_qr_errors_on_digit_heavy_text_with_a_valid_crc(body: str) -> None:
    decode_all_the_way(with_crc(body))


@given(st.lists(st.tuples(st.integers(0, 99), text(99)), max_size=12))
def test_decoder_raises_only_qr_errors_on_well_framed_random_objects(
    objects: list[tuple[int, str]],
) -> None:
    body = "".join(f"{tag:02d}{len(value):02d}{value}" for tag, value in objects)
    decode_all_the_way(with_crc("000201" + body))


@given(st.dictionaries(st.sampled_from(["01", "54", "55", "56", "57", "53"]), text(13)))
def test_extraction_raises_only_qr_errors_on_random_money_fields(
    changes: dict[str, str],
) -> None:
    decode_all_the_way(payload_from(dict(changes)))
