"""Property tests for fee schedule documents (interchange/fee_schedule_codec.py).

Any valid schedule survives its JSON unchanged (and its JSON is canonical); any JSON value
in any slot of a document, or a slot left out, gives a schedule or a fee error, never
another exception. Refusals by example: tests/unit/interchange/test_fee_schedule_codec.py.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from interchange.fee_schedule import (
    BPS_WHOLE,
    FeeBearer,
    FeeRule,
    FeeRuleKey,
    FeeSchedule,
    MerchantCriteria,
    PaymentType,
)
from interchange.fee_schedule_codec import schedule_from_json, schedule_to_json
from tests.outcomes import outcome_of
from tests.property.test_fee_properties import extreme_minor, fee_splits
from tests.unit.interchange.test_fee_schedule_codec import launch_document


@st.composite
def schedules(draw: st.DrawFn) -> FeeSchedule:
    rules: dict[FeeRuleKey, FeeRule] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        payment_type = draw(st.sampled_from(PaymentType))
        pair = draw(st.none() | st.tuples(st.integers(1, 2**63 - 1), st.integers(1, 2**63 - 1)))
        key = FeeRuleKey(
            payment_type=payment_type,
            issuer_coop_id=None if pair is None else pair[0],
            acquirer_coop_id=None if pair is None else pair[1],
            merchant_criteria=draw(st.none() | st.sampled_from(MerchantCriteria)),
        )
        low, high = draw(st.none() | extreme_minor), draw(st.none() | extreme_minor)
        if low is not None and high is not None and low > high:
            low, high = high, low
        bearer = (
            FeeBearer.MERCHANT
            if payment_type is PaymentType.QR_PURCHASE
            else draw(st.sampled_from(FeeBearer))
        )
        rules[key] = FeeRule(
            currency=draw(st.sampled_from(["IDR", "JPY", "KWD"])),
            bps=draw(st.integers(0, BPS_WHOLE)),
            fixed_minor=draw(extreme_minor),
            bearer=bearer,
            split=draw(fee_splits()),
            min_minor=low,
            max_minor=high,
        )
    version = draw(st.integers(min_value=1, max_value=2**31 - 1))
    return FeeSchedule(version, draw(st.dates()), rules)


@settings(deadline=None)
@given(schedule=schedules())
def test_a_schedule_survives_its_json_unchanged(schedule: FeeSchedule) -> None:
    text = schedule_to_json(schedule)
    decoded = schedule_from_json(text)
    assert decoded == schedule
    assert schedule_to_json(decoded) == text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "IDR", "UMI", "payer", "qr_purchase", "2026-01-01"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
_RULE_FIELDS = sorted(launch_document()["rules"][0])


@settings(deadline=None)
@given(
    where=st.sampled_from(["version", "effective_from_date", "rules", *_RULE_FIELDS, "split"]),
    value=json_values,
    drop=st.booleans(),
)
def test_any_json_in_any_slot_of_a_schedule_gives_a_fee_error_or_a_schedule(
    where: str, value: object, drop: bool
) -> None:
    document = launch_document()
    target = document if where in ("version", "effective_from_date", "rules") else None
    if target is None:
        target = document["rules"][2]["split"] if where == "split" else document["rules"][2]
        where = "issuer_bps" if where == "split" else where
    if drop:
        target.pop(where, None)
    else:
        target[where] = value
    outcome = outcome_of(lambda: schedule_from_json(json.dumps(document)))
    assert not outcome.startswith("unexpected:"), outcome
