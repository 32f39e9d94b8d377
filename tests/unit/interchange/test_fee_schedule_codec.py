"""Fee schedule documents (interchange/fee_schedule_codec.py) refused with a fee code.

A malformed, hostile or ambiguous document is `fee_schedule_invalid` or the code of the
rule it breaks, never another exception: not a float, a non-string argument or a document
nested deeper than `json.loads` can recurse (a document of at most 200,000 characters can
nest 100,000 levels); not two rules for one key or one member named twice, where the last
would otherwise silently win; not a `merchant_criteria` of the wrong type read as absent.
The round trip and arbitrary JSON in every slot are properties
(tests/property/interchange/test_fee_schedule_codec_properties.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import FEE_MINOR_MAX, FeeError, FeeErrorCode
from interchange.fee_schedule_codec import schedule_from_json, schedule_to_json
from tests.outcomes import outcome_of


def launch_document() -> dict[str, Any]:
    """The launch schedule as the JSON document an operator would publish, to alter."""
    loaded: dict[str, Any] = json.loads(schedule_to_json(launch_schedule()))
    return loaded


def _with(path: tuple[str | int, ...], value: object) -> str:
    document = launch_document()
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param(_with(("rules", 0, "bps"), 70.0), "fee_schedule_invalid", id="float-bps"),
        pytest.param(
            schedule_to_json(launch_schedule()).replace('"bps":70', '"bps":NaN'),
            "fee_bps_invalid",
            id="nan-bps",
        ),
        pytest.param(
            schedule_to_json(launch_schedule()).replace('"version":1', '"version":Infinity'),
            "fee_schedule_invalid",
            id="infinite-version",
        ),
        pytest.param(
            schedule_to_json(launch_schedule()).replace('"version":1', '"version":' + "9" * 5000),
            "fee_schedule_invalid",
            id="5000-digit-version",
        ),
        pytest.param(_with(("version",), 2**31), "fee_schedule_invalid", id="version-too-big"),
        pytest.param(_with(("version",), True), "fee_schedule_invalid", id="version-bool"),
        pytest.param(_with(("rules", 0, "fixed_minor"), -1), "fee_fixed_invalid", id="neg-fixed"),
        pytest.param(
            _with(("rules", 0, "max_minor"), FEE_MINOR_MAX + 1),
            "fee_bounds_invalid",
            id="huge-max",
        ),
        pytest.param(_with(("rules", 0, "split", "issuer_bps"), "4000"), "fee_split_invalid"),
        pytest.param(_with(("rules", 0, "currency"), "\ud800"), "fee_currency_unknown"),
        pytest.param(_with(("rules", 0, "currency"), ["IDR"]), "fee_schedule_invalid"),
        pytest.param(_with(("rules", 0, "payment_type"), "refund"), "fee_schedule_invalid"),
        pytest.param(_with(("rules", 0, "bearer"), "payer"), "fee_surcharge_forbidden"),
        pytest.param(_with(("rules", 0, "issuer_coop_id"), 0), "fee_coop_id_invalid"),
        pytest.param(_with(("rules", 0, "issuer_coop_id"), 7), "fee_rule_key_invalid"),
        pytest.param(_with(("rules",), []), "fee_schedule_invalid", id="no-rules"),
        pytest.param(_with(("rules",), {}), "fee_schedule_invalid", id="rules-object"),
        pytest.param(_with(("effective_from_date",), "2026-02-30"), "fee_schedule_invalid"),
        pytest.param(_with(("effective_from_date",), 20260101), "fee_schedule_invalid"),
        pytest.param("", "fee_schedule_invalid", id="empty"),
        pytest.param("[]", "fee_schedule_invalid", id="array"),
        pytest.param('"x"', "fee_schedule_invalid", id="string"),
        pytest.param(" " * 200_001, "fee_schedule_invalid", id="too-long"),
    ],
)
def test_a_malformed_schedule_document_is_refused_with_a_fee_code(text: str, code: str) -> None:
    with pytest.raises(FeeError) as caught:
        schedule_from_json(text)
    assert caught.value.code.value == code


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 50_000, id="nested-arrays"),
        pytest.param('{"a":' * 30_000 + "1" + "}" * 30_000, id="nested-objects"),
        pytest.param(5, id="an-int"),
        pytest.param(None, id="none"),
    ],
)
def test_a_hostile_schedule_document_never_raises_anything_but_a_fee_error(text: str) -> None:
    """A document nested deeper than `json.loads` can recurse, though within
    `SCHEDULE_JSON_CHARS_MAX` (200,000 characters allow 100,000 levels; `json.loads`
    recurses once per level), is `fee_schedule_invalid`, not a RecursionError; so is an
    argument that is not a string, not a TypeError from measuring its length."""
    outcome = outcome_of(lambda: schedule_from_json(text))
    assert outcome == "code:fee_schedule_invalid"


def _duplicate_rule_key() -> str:
    document = launch_document()
    document["rules"].append({**document["rules"][0], "bps": 10_000})
    return json.dumps(document)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_duplicate_rule_key(), id="two-rules-for-one-key"),
        pytest.param(
            schedule_to_json(launch_schedule()).replace('"bps":70', '"bps":70,"bps":10000'),
            id="a-member-named-twice",
        ),
    ],
)
def test_an_ambiguous_schedule_document_is_refused(text: str) -> None:
    """A document with two rules for one key, or one member named twice in a rule, is
    `fee_schedule_invalid`: the last one must not silently win (a 100% fee replacing the
    0.7% QR discount that the document also states, with nothing to tell the operator).
    Repeated rule keys and repeated members are both refused, not overwritten."""
    with pytest.raises(FeeError) as caught:
        schedule_from_json(text)
    assert caught.value.code is FeeErrorCode.FEE_SCHEDULE_INVALID


@pytest.mark.parametrize("criteria", [False, 0, "", []])
def test_merchant_criteria_of_the_wrong_type_is_not_read_as_absent(criteria: object) -> None:
    """A rule whose `merchant_criteria` is `false`, `0`, `""` or `[]` is refused, not decoded
    as a rule without criteria (which would silently turn a rule meant for one kind of
    merchant into the default for all of them): only `null` or a missing member is
    absent."""
    with pytest.raises(FeeError) as caught:
        schedule_from_json(_with(("rules", 1, "merchant_criteria"), criteria))
    assert caught.value.code is FeeErrorCode.FEE_SCHEDULE_INVALID
