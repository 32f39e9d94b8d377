"""Shape checks of entry requests: every code is reachable and the first failure wins."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

import ledger.validation
from ledger.entry import Ceiling, EntryKind, EntryRequest, Leg, MetadataValue, expiry_entry_id
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.validation import (
    LEGS_MAX,
    METADATA_CHARS_MAX,
    TIMEOUT_S_MAX,
    canonical_metadata,
    require_new_entry_id,
    validate_request,
)

DAY = date(2026, 11, 23)


def _legs(*amounts: int, currency: str = "IDR") -> tuple[Leg, ...]:
    return tuple(Leg(i + 1, Money(a, currency)) for i, a in enumerate(amounts))


def _ok(**fields: object) -> EntryRequest:
    base = EntryRequest("pay-1", DAY, legs=_legs(-5, 5))
    return replace(base, **fields)  # type: ignore[arg-type]


def _code(request: EntryRequest) -> Code:
    with pytest.raises(LedgerError) as raised:
        validate_request(request)
    return raised.value.code


_VOID = EntryKind.VOID_PENDING

CASES: list[tuple[str, EntryRequest, Code]] = [
    ("empty id", _ok(entry_id=""), Code.ENTRY_ID_INVALID),
    ("id of 65 characters", _ok(entry_id="a" * 65), Code.ENTRY_ID_INVALID),
    ("id starting with a dash", _ok(entry_id="-a"), Code.ENTRY_ID_INVALID),
    ("id with a space", _ok(entry_id="a b"), Code.ENTRY_ID_INVALID),
    ("id that is not text", _ok(entry_id=42), Code.ENTRY_ID_INVALID),
    ("kind given as its text", _ok(kind="posted"), Code.ENTRY_KIND_INVALID),
    (
        "hold kind given as its text",
        _ok(kind="pending", timeout_s=5),
        Code.ENTRY_KIND_INVALID,
    ),
    ("kind that is no kind", _ok(kind="transfer"), Code.ENTRY_KIND_INVALID),
    ("void without target", _ok(kind=_VOID, legs=()), Code.PENDING_ID_REQUIRED),
    (
        "reversal with empty target",
        _ok(kind=EntryKind.REVERSAL, legs=(), target_id=""),
        Code.PENDING_ID_REQUIRED,
    ),
    ("post_pending without target", _ok(kind=EntryKind.POST_PENDING), Code.PENDING_ID_REQUIRED),
    ("posted with target", _ok(target_id="x"), Code.PENDING_ID_NOT_ALLOWED),
    (
        "hold with target",
        _ok(kind=EntryKind.PENDING, timeout_s=5, target_id="x"),
        Code.PENDING_ID_NOT_ALLOWED,
    ),
    ("hold without timeout", _ok(kind=EntryKind.PENDING), Code.TIMEOUT_INVALID),
    ("hold with zero timeout", _ok(kind=EntryKind.PENDING, timeout_s=0), Code.TIMEOUT_INVALID),
    (
        "hold with too long a timeout",
        _ok(kind=EntryKind.PENDING, timeout_s=TIMEOUT_S_MAX + 1),
        Code.TIMEOUT_INVALID,
    ),
    ("hold with a bool timeout", _ok(kind=EntryKind.PENDING, timeout_s=True), Code.TIMEOUT_INVALID),
    ("hold with a float timeout", _ok(kind=EntryKind.PENDING, timeout_s=5.0), Code.TIMEOUT_INVALID),
    ("posted with timeout", _ok(timeout_s=5), Code.TIMEOUT_INVALID),
    (
        "void with timeout",
        _ok(kind=_VOID, legs=(), target_id="h", timeout_s=5),
        Code.TIMEOUT_INVALID,
    ),
    ("legs not a sequence", _ok(legs=None), Code.LEGS_INVALID),
    ("a leg that is a tuple", _ok(legs=((1, Money(5, "IDR")), *_legs(-5))), Code.LEGS_INVALID),
    ("a bool account id", _ok(legs=(Leg(True, Money(5, "IDR")), *_legs(-5))), Code.LEGS_INVALID),
    (
        "a float account id",
        _ok(legs=(Leg(1.0, Money(5, "IDR")), *_legs(-5))),  # type: ignore[arg-type]
        Code.LEGS_INVALID,
    ),
    ("an int amount", _ok(legs=(Leg(1, 5), Leg(2, -5))), Code.LEGS_INVALID),  # type: ignore[arg-type]
    (
        "reversal with a list target",
        _ok(kind=EntryKind.REVERSAL, legs=(), target_id=["h"]),
        Code.PENDING_ID_REQUIRED,
    ),
    ("one leg", _ok(legs=_legs(5)), Code.LEGS_TOO_FEW),
    ("no legs", _ok(legs=()), Code.LEGS_TOO_FEW),
    (
        "post_pending with one leg",
        _ok(kind=EntryKind.POST_PENDING, target_id="h", legs=_legs(5)),
        Code.LEGS_TOO_FEW,
    ),
    ("too many legs", _ok(legs=_legs(*([1] * LEGS_MAX), -LEGS_MAX)), Code.LEGS_TOO_MANY),
    ("void with legs", _ok(kind=_VOID, target_id="h"), Code.LEGS_TOO_MANY),
    ("expire with legs", _ok(kind=EntryKind.EXPIRE_PENDING, target_id="h"), Code.LEGS_TOO_MANY),
    ("reversal with legs", _ok(kind=EntryKind.REVERSAL, target_id="h"), Code.LEGS_TOO_MANY),
    ("zero leg", _ok(legs=_legs(0, 5, -5)), Code.AMOUNT_ZERO),
    (
        "account twice",
        _ok(legs=(Leg(1, Money(-5, "IDR")), Leg(1, Money(5, "IDR")))),
        Code.ACCOUNT_REPEATED,
    ),
    ("unbalanced", _ok(legs=_legs(-5, 4)), Code.ENTRY_UNBALANCED),
    (
        "balanced in numbers but not per currency",
        _ok(legs=(Leg(1, Money(-5, "IDR")), Leg(2, Money(5, "JPY")))),
        Code.ENTRY_UNBALANCED,
    ),
    ("ceilings not a sequence", _ok(ceilings=None), Code.CEILINGS_INVALID),
    ("a ceiling that is a tuple", _ok(ceilings=((2, 10),)), Code.CEILINGS_INVALID),
    ("a ceiling off the legs", _ok(ceilings=(Ceiling(3, 10),)), Code.CEILINGS_INVALID),
    ("a ceiling twice", _ok(ceilings=(Ceiling(2, 10), Ceiling(2, 9))), Code.CEILINGS_INVALID),
    ("a negative ceiling", _ok(ceilings=(Ceiling(2, -1),)), Code.CEILINGS_INVALID),
    (
        "a ceiling past 10^15",
        _ok(ceilings=(Ceiling(2, AMOUNT_MINOR_MAX + 1),)),
        Code.CEILINGS_INVALID,
    ),
    ("a float ceiling", _ok(ceilings=(Ceiling(2, 10.0),)), Code.CEILINGS_INVALID),  # type: ignore[arg-type]
    ("a bool ceiling account", _ok(ceilings=(Ceiling(True, 10),)), Code.CEILINGS_INVALID),
    (
        "a ceiling on a capture",
        _ok(kind=EntryKind.POST_PENDING, target_id="h", ceilings=(Ceiling(2, 10),)),
        Code.CEILINGS_INVALID,
    ),
    (
        "a ceiling on a reversal",
        _ok(kind=EntryKind.REVERSAL, target_id="h", legs=(), ceilings=(Ceiling(2, 10),)),
        Code.CEILINGS_INVALID,
    ),
    ("metadata key in capitals", _ok(metadata={"Note": "x"}), Code.METADATA_INVALID),
    ("metadata key too long", _ok(metadata={"k" * 41: "x"}), Code.METADATA_INVALID),
    ("metadata float", _ok(metadata={"rate": 1.5}), Code.METADATA_INVALID),
    ("metadata nested", _ok(metadata={"a": {"b": 1}}), Code.METADATA_INVALID),
    ("metadata list value", _ok(metadata={"a": [1]}), Code.METADATA_INVALID),
    ("metadata not a mapping", _ok(metadata=[("a", 1)]), Code.METADATA_INVALID),
    ("metadata with 33 keys", _ok(metadata={f"k{i}": i for i in range(33)}), Code.METADATA_INVALID),
    ("metadata too long", _ok(metadata={"k": "x" * METADATA_CHARS_MAX}), Code.METADATA_TOO_LARGE),
    ("metadata lone surrogate", _ok(metadata={"note": "a\ud800"}), Code.METADATA_INVALID),
    ("metadata int of 5,000 digits", _ok(metadata={"n": 10**5000}), Code.METADATA_INVALID),
    ("date before 2000", _ok(business_date=date(1999, 12, 31)), Code.BUSINESS_DATE_INVALID),
    ("date after 2999", _ok(business_date=date(3000, 1, 1)), Code.BUSINESS_DATE_INVALID),
    ("date and time", _ok(business_date=datetime(2026, 11, 23, 8)), Code.BUSINESS_DATE_INVALID),
]


@pytest.mark.parametrize(("request_", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_malformed_request_is_refused_with_its_code(
    request_: EntryRequest, code: Code
) -> None:
    assert _code(request_) is code


def _codes_raised_in(path: Path) -> set[Code]:
    tree = ast.parse(path.read_text())
    return {
        Code[node.attr]
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "LedgerErrorCode"
    }


def test_every_code_the_validation_module_can_raise_is_reached_above() -> None:
    raised = _codes_raised_in(Path(ledger.validation.__file__))
    assert raised == {code for _, _, code in CASES}


def test_checks_run_in_the_documented_order_and_the_first_failure_wins() -> None:
    request = EntryRequest(
        entry_id="",
        business_date=date(1999, 1, 1),
        legs=(Leg(True, Money(0, "IDR")),),
        kind="posted",  # type: ignore[arg-type]
        target_id="x",
        timeout_s=5,
        metadata={"Bad": 1},
        ceilings=(Ceiling(9, 1),),
    )
    # Account 1 twice, and the legs sum to 2.
    repeated = (Leg(1, Money(5, "IDR")), Leg(1, Money(-3, "IDR")))
    fixes: list[tuple[Code, dict[str, object]]] = [
        (Code.ENTRY_ID_INVALID, {"entry_id": "pay-1"}),
        (Code.ENTRY_KIND_INVALID, {"kind": EntryKind.POSTED}),
        (Code.PENDING_ID_NOT_ALLOWED, {"target_id": None}),
        (Code.TIMEOUT_INVALID, {"timeout_s": None}),
        (Code.LEGS_INVALID, {"legs": (Leg(1, Money(0, "IDR")),)}),
        (Code.LEGS_TOO_FEW, {"legs": (Leg(1, Money(0, "IDR")), *repeated)}),
        (Code.AMOUNT_ZERO, {"legs": repeated}),
        (Code.ACCOUNT_REPEATED, {"legs": _legs(5, -3)}),
        (Code.ENTRY_UNBALANCED, {"legs": _legs(5, -5)}),
        (Code.CEILINGS_INVALID, {"ceilings": (Ceiling(1, 0),)}),
        (Code.METADATA_INVALID, {"metadata": {"note": "x" * METADATA_CHARS_MAX}}),
        (Code.METADATA_TOO_LARGE, {"metadata": {"note": "ok"}}),
        (Code.BUSINESS_DATE_INVALID, {"business_date": DAY}),
    ]
    for code, fix in fixes:
        assert _code(request) is code
        request = replace(request, **fix)  # type: ignore[arg-type]
    assert validate_request(request) == '{"note":"ok"}'


# What passes: the edges of every limit.


@pytest.mark.parametrize(
    "request_",
    [
        _ok(entry_id="a" * 64),
        _ok(entry_id="A0._:/-z"),
        _ok(kind=EntryKind.PENDING, timeout_s=1),
        _ok(kind=EntryKind.PENDING, timeout_s=TIMEOUT_S_MAX),
        _ok(kind=EntryKind.POST_PENDING, target_id="h", legs=()),
        _ok(kind=EntryKind.POST_PENDING, target_id="h"),
        _ok(kind=EntryKind.VOID_PENDING, target_id="h", legs=()),
        _ok(kind=EntryKind.EXPIRE_PENDING, target_id="h", legs=()),
        _ok(kind=EntryKind.REVERSAL, target_id="h", legs=()),
        _ok(legs=_legs(*([1] * (LEGS_MAX - 1)), -(LEGS_MAX - 1))),
        _ok(legs=(*_legs(-5, 5), Leg(3, Money(-2, "JPY")), Leg(4, Money(2, "JPY")))),
        _ok(metadata={f"k{i}": i for i in range(32)}),
        _ok(metadata={"k": "x" * (METADATA_CHARS_MAX - len('{"k":""}'))}),
        _ok(ceilings=(Ceiling(2, 0), Ceiling(1, AMOUNT_MINOR_MAX))),
        _ok(kind=EntryKind.PENDING, timeout_s=1, ceilings=[Ceiling(2, 5)]),
        _ok(business_date=date(2000, 1, 1)),
        _ok(business_date=date(2999, 12, 31)),
    ],
    ids=lambda r: f"{r.kind}-{r.entry_id[:8]}-{len(r.legs)}",
)
def test_requests_at_the_edges_of_the_limits_pass(request_: EntryRequest) -> None:
    validate_request(request_)


def test_metadata_is_rendered_as_compact_sorted_json_and_empty_as_none() -> None:
    values: dict[str, MetadataValue] = {"z": None, "a": True, "m": 7, "n": "Rp ü"}
    assert canonical_metadata(values) == '{"a":true,"m":7,"n":"Rp ü","z":null}'
    assert canonical_metadata({}) is None
    assert validate_request(_ok()) is None


def test_the_expiry_sweepers_own_id_is_valid_for_the_expiry_of_its_hold_only() -> None:
    expiry = _ok(
        entry_id=expiry_entry_id("hold-1"),
        kind=EntryKind.EXPIRE_PENDING,
        legs=(),
        target_id="hold-1",
    )
    require_new_entry_id(expiry)
    for taken in (
        replace(expiry, target_id="hold-2"),
        replace(expiry, kind=EntryKind.VOID_PENDING),
    ):
        with pytest.raises(LedgerError) as refused:
            require_new_entry_id(taken)
        assert refused.value.code is Code.ENTRY_ID_INVALID
