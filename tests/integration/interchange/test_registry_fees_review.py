"""Review of the registry, fee schedules and quotes: hostile input, boundaries, idempotency.

Tests whose docstring says what used to happen pin a defect the review found, fixed in
stop 10. The others cover ground the existing tests do not: the schedule codec (which had
no tests), fee invariants at the very limits of `Money`, schedule selection through
`Payments.quote` at an effective-date boundary, and NIK handling across a key rotation.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import (
    BPS_WHOLE,
    FEE_MINOR_MAX,
    FeeBearer,
    FeeError,
    FeeErrorCode,
    FeeRule,
    FeeRuleKey,
    FeeSchedule,
    FeeSplit,
    MerchantCriteria,
    PaymentType,
)
from interchange.fee_schedule_codec import schedule_from_json, schedule_to_json
from interchange.fees import quote
from interchange.nik import NikVault
from interchange.payment_model import CashIn, PaymentError, PaymentErrorCode
from interchange.registry import Registry
from interchange.registry_model import (
    Coop,
    Member,
    RegistryError,
)
from interchange.registry_model import RegistryErrorCode as Code
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.service import Ledger
from tests.network import idr, network_on, outcome_of
from tests.unit.interchange.registry_builders import (
    NIK,
    a_coop,
    a_member,
    a_merchant,
)

if TYPE_CHECKING:
    from tests.network import TestNetwork

# One past the largest BIGINT: every id column in the schema is a 64-bit integer.
ID_BEYOND_BIGINT = 2**63
NEW_KEY = b"review-rotation-key-32-bytes-ok!"
# The public development keys (interchange/nik.py), as an operator would write them.
DEV_KEY = b"kopnet-dev-nik-key-NOT-SECRET-01"
DEV_LOOKUP_KEY = b"kopnet-dev-nik-lookup-NOT-SECRET"
OTHER_NIK = "3201234567890999"


# --- Fixtures -----------------------------------------------------------------------------


@pytest.fixture
def coop(registry: Registry) -> Coop:
    return registry.register_coop(a_coop())


@pytest.fixture
def sqlite_net(sqlite_url: str) -> Iterator[TestNetwork]:
    """For behaviour that does not depend on the engine: one engine is enough."""
    with network_on(sqlite_url) as network:
        yield network


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def launch_document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schedule_to_json(launch_schedule()))
    return loaded


# --- Fee arithmetic at the limits of Money --------------------------------------------------


@st.composite
def fee_splits(draw: st.DrawFn) -> FeeSplit:
    issuer_bps = draw(st.integers(min_value=0, max_value=BPS_WHOLE))
    acquirer_bps = draw(st.integers(min_value=0, max_value=BPS_WHOLE - issuer_bps))
    return FeeSplit(issuer_bps, acquirer_bps, BPS_WHOLE - issuer_bps - acquirer_bps)


extreme_minor = st.integers(min_value=0, max_value=FEE_MINOR_MAX) | st.sampled_from(
    [0, 1, FEE_MINOR_MAX - 1, FEE_MINOR_MAX]
)
extreme_amounts = st.integers(min_value=1, max_value=AMOUNT_MINOR_MAX) | st.sampled_from(
    [1, 2, AMOUNT_MINOR_MAX - 1, AMOUNT_MINOR_MAX]
)


@settings(deadline=None)
@given(
    currency=st.sampled_from(["JPY", "IDR", "KWD"]),
    amount_minor=extreme_amounts,
    bps=st.integers(min_value=0, max_value=BPS_WHOLE),
    fixed_minor=extreme_minor,
    bounds=st.tuples(st.none() | extreme_minor, st.none() | extreme_minor),
    payment_type=st.sampled_from(PaymentType),
    bearer=st.sampled_from(FeeBearer),
    split=fee_splits(),
)
def test_a_quote_at_the_limits_of_money_balances_or_is_refused_as_too_large(
    currency: str,
    amount_minor: int,
    bps: int,
    fixed_minor: int,
    bounds: tuple[int | None, int | None],
    payment_type: PaymentType,
    bearer: FeeBearer,
    split: FeeSplit,
) -> None:
    """Amounts up to 10^15 and fixed parts and bounds up to `FEE_MINOR_MAX` (the existing
    properties stop at 10^12 and 10^7): the only refusal is `fee_amount_too_large`; the
    shares add up, none is negative, the maximum holds, the minimum yields only to the
    merchant's amount cap, and a QR purchase never surcharges the payer."""
    low, high = bounds
    if low is not None and high is not None and low > high:
        low, high = high, low
    if payment_type is PaymentType.QR_PURCHASE:
        bearer = FeeBearer.MERCHANT
    rule = FeeRule(
        currency=currency,
        bps=bps,
        fixed_minor=fixed_minor,
        bearer=bearer,
        split=split,
        min_minor=low,
        max_minor=high,
    )
    schedule = FeeSchedule(1, date(2026, 1, 1), {FeeRuleKey(payment_type=payment_type): rule})
    amount = Money(amount_minor, currency)
    refused: FeeError | None = None
    try:
        priced = quote(amount, payment_type, schedule, 1, 2)
    except FeeError as error:
        refused = error
    if refused is not None:
        assert refused.code is FeeErrorCode.FEE_AMOUNT_TOO_LARGE
        assert bearer is FeeBearer.PAYER
        return
    fee_minor = priced.fee.amount_minor
    shares = (priced.shares.issuer, priced.shares.acquirer, priced.shares.network)
    assert sum(share.amount_minor for share in shares) == fee_minor
    assert all(share.amount_minor >= 0 for share in shares)
    assert priced.payer_pays == priced.payee_receives + priced.fee
    assert priced.payee_receives.amount_minor >= 0
    if high is not None:
        assert fee_minor <= high
    if low is not None and fee_minor < low:
        assert (bearer, fee_minor) == (FeeBearer.MERCHANT, amount_minor)
    if payment_type is PaymentType.QR_PURCHASE:
        assert priced.payer_pays == amount


# --- The schedule codec ---------------------------------------------------------------------


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
    """Used to fail (fixed in stop 10): `schedule_from_json` lets RecursionError escape for a
    deeply nested document that is within `SCHEDULE_JSON_CHARS_MAX` (200,000 characters
    allow 100,000 levels; `json.loads` recurses once per level), and TypeError for a non-str
    argument (`len(text)` before any check). Cause: fee_schedule_codec.py:95-105 catches
    only ValueError, KeyError, TypeError and AttributeError around `json.loads`, and the
    length check at line 95 sits outside the try."""
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
    """Used to fail (fixed in stop 10): a document with two rules for one key (or one member
    named twice in a rule) is accepted and the last one silently wins: a 100% fee replaces
    the 0.7% QR discount that the document also states, and nothing tells the operator.
    Cause: fee_schedule_codec.py:99 builds the rules with `dict(...)`, which overwrites
    repeated keys, and `json.loads` keeps the last of repeated members (no
    `object_pairs_hook`)."""
    with pytest.raises(FeeError) as caught:
        schedule_from_json(text)
    assert caught.value.code is FeeErrorCode.FEE_SCHEDULE_INVALID


@pytest.mark.parametrize("criteria", [False, 0, "", []])
def test_merchant_criteria_of_the_wrong_type_is_not_read_as_absent(criteria: object) -> None:
    """Used to fail (fixed in stop 10): a rule whose `merchant_criteria` is `false`, `0`, `""`
    or `[]` is decoded as a rule without criteria, so a rule meant for one kind of merchant
    silently becomes the default for all of them. Cause: fee_schedule_codec.py:74
    `MerchantCriteria(criteria) if criteria else None` tests truthiness, not `is None`."""
    with pytest.raises(FeeError) as caught:
        schedule_from_json(_with(("rules", 1, "merchant_criteria"), criteria))
    assert caught.value.code is FeeErrorCode.FEE_SCHEDULE_INVALID


# --- Quotes and published schedules ---------------------------------------------------------


def cash_out_schedule(version: int, effective: date, fee_minor: int) -> FeeSchedule:
    """The launch tariff with another fixed cash-out fee, under a new version and date."""
    launch = launch_schedule()
    key = FeeRuleKey(payment_type=PaymentType.CASH_OUT)
    rules = dict(launch.rules)
    rules[key] = replace(rules[key], fixed_minor=fee_minor)
    return FeeSchedule(version, effective, rules)


def cash_out_fee(net: TestNetwork, day: date) -> tuple[int, int]:
    """(schedule version, fee) that `Payments.quote` gives for a cash-out on `day`."""
    network_id = net.network.id
    priced = net.services.payments.quote(
        idr(75_000), PaymentType.CASH_OUT, network_id, network_id, business_date=day
    )
    return priced.schedule_version, priced.fee.amount_minor


def test_a_quote_uses_the_schedule_in_force_on_its_business_date(net: TestNetwork) -> None:
    net.services.payments.publish_schedule(cash_out_schedule(2, date(2026, 3, 1), 300_000))
    with pytest.raises(FeeError) as caught:
        cash_out_fee(net, date(2025, 12, 31))
    assert caught.value.code is FeeErrorCode.FEE_SCHEDULE_MISSING
    assert cash_out_fee(net, date(2026, 1, 1)) == (1, 250_000)
    assert cash_out_fee(net, date(2026, 2, 28)) == (1, 250_000)
    assert cash_out_fee(net, date(2026, 3, 1)) == (2, 300_000)
    # A same-day correction: the higher version wins from its first day on.
    net.services.payments.publish_schedule(cash_out_schedule(3, date(2026, 3, 1), 350_000))
    assert cash_out_fee(net, date(2026, 2, 28)) == (1, 250_000)
    assert cash_out_fee(net, date(2026, 3, 1)) == (3, 350_000)


def test_a_schedule_version_below_the_newest_is_refused(net: TestNetwork) -> None:
    """Versions grow in the order they are published: version 2 after version 3 is
    `fee_schedule_version_stale`, and quotes go on with what was published. It used to be
    stored and then ignored by every process that had read version 3 (schedules are
    reloaded when the newest version changes), so quotes and payments on its dates went
    on with version 1."""
    payments = net.services.payments
    payments.publish_schedule(cash_out_schedule(3, date(2027, 1, 1), 400_000))
    assert cash_out_fee(net, date(2026, 7, 1)) == (1, 250_000)
    with pytest.raises(FeeError) as refused:
        payments.publish_schedule(cash_out_schedule(2, date(2026, 6, 1), 300_000))
    assert refused.value.code is FeeErrorCode.FEE_SCHEDULE_VERSION_STALE
    assert cash_out_fee(net, date(2026, 7, 1)) == (1, 250_000)


def test_publishing_an_equal_schedule_again_is_a_replay_whatever_its_rule_order(
    net: TestNetwork,
) -> None:
    """Used to fail (fixed in stop 10): `FeeSchedule` equality ignores the order of its rules,
    but publication compares the JSON text, which lists rules in insertion order; so
    republishing a schedule equal (==) to the published one is refused as
    `payment_exists_with_different_request`. Cause: `schedule_to_json`
    (fee_schedule_codec.py:59) does not sort the rules, and `_publish` (payments.py:202-220)
    compares documents as text."""
    launch = launch_schedule()
    reordered = FeeSchedule(
        launch.version, launch.effective_from_date, dict(reversed(list(launch.rules.items())))
    )
    assert reordered == launch
    assert net.services.payments.publish_schedule(reordered) == launch


@pytest.mark.parametrize("rupiah", [1, 999, 1_000])
def test_a_cash_in_quote_never_promises_a_deposit_that_does_not_cover_the_fee(
    sqlite_net: TestNetwork, rupiah: int
) -> None:
    """Used to fail (fixed in stop 10): a cash-in of Rp1 to Rp1.000 (the fee is Rp1.000) is
    quoted as a success in which the wallet receives `amount - fee` (zero or negative: Rp1
    gives -Rp999), while the cash-in itself is refused with `amount_below_fee`. A quote must
    show what confirming will do. Cause: `Payments.quote` (payments.py:176) returns
    `deducted(priced)` (fees.py:228-243, line 240), which subtracts the fee without the
    check that `plan_cash` (routing_flows.py:150-151) makes."""
    coop = sqlite_net.add_coop("KSA")
    member = sqlite_net.add_member("ani", coop)
    with pytest.raises(PaymentError) as refused:
        sqlite_net.services.payments.pay(CashIn("ci-small", member.id, coop.id, idr(rupiah)))
    assert refused.value.code is PaymentErrorCode.AMOUNT_BELOW_FEE
    outcome = outcome_of(
        lambda: sqlite_net.services.payments.quote(
            idr(rupiah), PaymentType.CASH_IN, coop.id, coop.id
        )
    )
    assert outcome.startswith("code:"), f"quoted {outcome} for a refused cash-in"


# --- Registry: hostile lookups and registrations -------------------------------------------


def _beyond_bigint_calls(registry: Registry, coop: Coop) -> dict[str, Callable[[], object]]:
    big = ID_BEYOND_BIGINT
    return {
        "coop": lambda: registry.coop(big),
        "set_coop_status": lambda: registry.set_coop_status(big, "suspended"),
        "member": lambda: registry.member(big, viewer_coop_id=coop.id),
        "member_wallets": lambda: registry.member_wallets(big),
        "open_member_wallet": lambda: registry.open_member_wallet(big, "savings"),
        "set_member_status": lambda: registry.set_member_status(big, "suspended"),
        "merchant": lambda: registry.merchant(big),
        "set_merchant_status": lambda: registry.set_merchant_status(big, "suspended"),
        "register_member": lambda: registry.register_member(a_member(coop_id=big)),
        "register_merchant": lambda: registry.register_merchant(a_merchant(coop_id=big)),
        "find_member_by_nik": lambda: registry.find_member_by_nik(big, NIK),
    }


def test_an_id_beyond_bigint_is_simply_not_found(registry: Registry, coop: Coop) -> None:
    """Used to fail (fixed in stop 10): every registry call given an id of 2**63 or more (a
    caller-controlled integer) fails in the driver, not with `*_not_found`: psycopg's
    DataError (NumericValueOutOfRange, "bigint out of range") on PostgreSQL and
    OverflowError on SQLite. Cause: ids go straight into `where(... == id)`
    (registry.py:221, 297, 339; registry_store.py:308) with no range check;
    `fee_schedule.COOP_ID_MAX` shows the bound the registry lacks."""
    outcomes = {
        name: outcome_of(call) for name, call in _beyond_bigint_calls(registry, coop).items()
    }
    unexpected = {name: o for name, o in outcomes.items() if o.startswith("unexpected:")}
    assert unexpected == {}


@pytest.mark.parametrize("text", ["KSP\x00-01", "KSP\ud800"], ids=["nul", "lone-surrogate"])
def test_a_lookup_by_text_no_participant_can_have_is_not_found(
    registry: Registry, coop: Coop, text: str
) -> None:
    """Used to fail (fixed in stop 10): looking a coop up by code, or a merchant by the network
    id a scanned QR code carries, with a NUL (PostgreSQL: psycopg DataError "cannot contain
    NUL") or a lone surrogate (both engines: UnicodeEncodeError) escapes from the driver
    instead of `coop_not_found` / `merchant_not_found`. Cause: `coop_by_code` and
    `merchant_by_network_id` (registry.py:223-225, 341-344) query with the raw text; the
    codes and ids have ASCII patterns (`_COOP_CODE_RE`, `_MERCHANT_NO_RE`) that are never
    applied to lookups."""
    outcomes = {
        "coop_by_code": outcome_of(lambda: registry.coop_by_code(text)),
        "merchant_by_network_id": outcome_of(lambda: registry.merchant_by_network_id(text)),
    }
    assert outcomes == {
        "coop_by_code": "code:coop_not_found",
        "merchant_by_network_id": "code:merchant_not_found",
    }


@pytest.mark.parametrize(
    "nik",
    [
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦",  # Arabic-Indic digits: str.isdigit() is True for these
        "3201234567890123\n",
        "3201234567890123 ",
        "\u20073201234567890123",
        "32012345678901²3",
        "+201234567890123",
        3201234567890123,
        None,
    ],
    ids=[
        "arabic-indic",
        "newline",
        "trailing-space",
        "figure-space",
        "superscript",
        "sign",
        "int",
        "none",
    ],
)
def test_a_nik_that_is_not_sixteen_ascii_digits_is_refused_everywhere(
    registry: Registry, coop: Coop, nik: object
) -> None:
    registry.register_member(a_member(coop_id=coop.id))
    calls: dict[str, Callable[[], object]] = {
        "register": lambda: registry.register_member(
            a_member(coop_id=coop.id, member_no="B-1", nik=nik)
        ),
        "find": lambda: registry.find_member_by_nik(coop.id, nik),  # type: ignore[arg-type]
    }
    outcomes = {name: outcome_of(call) for name, call in calls.items()}
    assert outcomes == {"register": "code:nik_invalid", "find": "code:nik_invalid"}


def test_after_rotating_keys_replays_lookups_and_the_one_member_per_nik_rule_still_hold(
    registry: Registry, ledger: Ledger, coop: Coop
) -> None:
    """Rotation through the operator's setting (a new first key, the old one kept, the same
    lookup key): old and re-encrypted rows decrypt, a replay under the old key id is still
    a replay, and the NIK stays taken."""
    member = registry.register_member(a_member(coop_id=coop.id))
    dev = NikVault.development()
    setting = f"k2:{b64(NEW_KEY)}, dev1:{b64(DEV_KEY)} ; lookup:{b64(DEV_LOOKUP_KEY)}"
    rotated = NikVault.from_setting(setting)
    assert rotated.current_key_id == "k2"
    assert rotated.lookup_hash(NIK) == dev.lookup_hash(NIK)
    after = Registry(ledger.engine, ledger, rotated)
    seen = after.member(member.id, viewer_coop_id=coop.id, include_nik=True)
    assert isinstance(seen, Member)
    assert seen.nik == NIK  # still under the old key
    assert after.register_member(a_member(coop_id=coop.id)) == member
    with pytest.raises(RegistryError) as caught:
        after.register_member(a_member(coop_id=coop.id, member_no="B-1"))
    assert caught.value.code is Code.NIK_ALREADY_REGISTERED
    second = after.register_member(a_member(coop_id=coop.id, member_no="B-2", nik=OTHER_NIK))
    assert after.rotate_nik_keys() == 1
    for who, nik in ((member, NIK), (second, OTHER_NIK)):
        assert after.find_member_by_nik(coop.id, nik) == who
        full = after.member(who.id, viewer_coop_id=coop.id, include_nik=True)
        assert isinstance(full, Member)
        assert full.nik == nik
    with pytest.raises(RegistryError) as conflict:
        after.register_member(a_member(coop_id=coop.id, nik=OTHER_NIK))
    assert conflict.value.code is Code.MEMBER_EXISTS_WITH_DIFFERENT_SPEC
