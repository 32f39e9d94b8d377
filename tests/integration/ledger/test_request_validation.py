"""What a caller sends the ledger, through the service on both engines, gets an outcome with
a code or a `LedgerError`, never an exception of the driver or of Python.

Ids no database can store (a NUL, a lone surrogate) and ids no row can have (an account id
beyond 64 bits) are refused or not found; metadata that cannot be rendered, and a datetime
given as a business date, get a code; a request breaking several rules gets the code its
first check gives (`LedgerErrorCode` lists them in the order the checks run). A property
test builds hostile but well-typed batches of every kind. The shape checks themselves are
tested without a database in `tests/unit/ledger/test_validation.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.entry import EntryKind, EntryOutcome, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.service import Ledger
from ledger.validation import METADATA_CHARS_MAX
from tests.builders import BUSINESS_DATE, idr, open_wallets, resolution, transfer

_EARLY = datetime(2000, 1, 1, tzinfo=UTC)
_LATE = datetime(2999, 1, 1, tzinfo=UTC)
_CODES = frozenset(code.value for code in Code)


@pytest.mark.parametrize("bad_id", ["a\x00b", "a\ud800b"], ids=["nul", "lone-surrogate"])
def test_an_entry_id_no_database_can_store_is_refused_with_a_code(
    ledger: Ledger, bad_id: str
) -> None:
    """An entry id with a NUL or a lone surrogate is `entry_id_invalid`. The replay lookup,
    which runs before validation, skips ids no entry can have rather than send them to the
    database (whose driver raises CharacterNotInRepertoire or UnicodeEncodeError on them)."""
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(10)))
    (outcome,) = ledger.post_batch([transfer(bad_id, a["ani"], a["budi"], idr(1))])
    assert outcome.code == Code.ENTRY_ID_INVALID
    assert ledger.account(a["budi"].id).posted == idr(0)


@pytest.mark.parametrize("bad_target", ["a\x00b", "\udfff"], ids=["nul", "lone-surrogate"])
def test_a_target_id_no_database_can_store_is_not_found(ledger: Ledger, bad_target: str) -> None:
    """A void or reversal whose target id holds a NUL or a lone surrogate finds nothing
    (`pending_not_found`, `entry_not_found`); the lookup never sends such an id to the
    database, which would raise."""
    outcomes = ledger.post_batch(
        [
            resolution("void", EntryKind.VOID_PENDING, bad_target),
            resolution("undo", EntryKind.REVERSAL, bad_target),
        ]
    )
    assert [o.code for o in outcomes] == [Code.PENDING_NOT_FOUND, Code.ENTRY_NOT_FOUND]


@pytest.mark.parametrize(
    "metadata",
    [{"note": "caf\udce9"}, {"count": 10**5000}],
    ids=["lone-surrogate", "int-of-5001-digits"],
)
def test_metadata_that_cannot_be_rendered_is_refused_with_a_code(
    ledger: Ledger, metadata: dict[str, str | int]
) -> None:
    """Metadata values of the documented types that cannot be rendered are refused with a
    code: a string with a lone surrogate (the digest cannot encode it) and an integer
    beyond 64 bits (`json` cannot render one of more than 4,300 digits)."""
    a = open_wallets(ledger, "ani")
    request = replace(transfer("tagged", a["cash"], a["ani"], idr(1)), metadata=metadata)
    (outcome,) = ledger.post_batch([request])
    assert outcome.code == Code.METADATA_INVALID


def test_a_business_date_given_as_a_datetime_gets_an_outcome(ledger: Ledger) -> None:
    """A `datetime` given as the business date (it is a `date` too) gets an outcome
    (`business_date_invalid`), not a TypeError from comparing it with the date bounds."""
    a = open_wallets(ledger, "ani")
    request = replace(
        transfer("dated", a["cash"], a["ani"], idr(1)),
        business_date=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    )
    (outcome,) = ledger.post_batch([request])
    assert outcome.code == Code.BUSINESS_DATE_INVALID


@pytest.mark.parametrize(
    ("kind", "timeout_s"), [("posted", None), ("pending", 600), ("void_pending", None)]
)
def test_a_kind_given_as_text_gets_its_own_outcome_and_the_batch_goes_on(
    ledger: Ledger, kind: str, timeout_s: int | None
) -> None:
    """A kind given as its text ("posted") rather than an `EntryKind` is that request's
    `entry_kind_invalid` (field `kind`), not an AssertionError failing the whole batch,
    nor a `timeout_invalid` for a hold whose timeout is fine."""
    a = open_wallets(ledger, "ani")
    texted = replace(
        transfer("texted", a["cash"], a["ani"], idr(1)),
        kind=kind,  # type: ignore[arg-type]
        timeout_s=timeout_s,
        target_id="pay" if kind == "void_pending" else None,
    )
    refused, recorded = ledger.post_batch([texted, transfer("pay", a["cash"], a["ani"], idr(2))])
    assert (refused.code, refused.field) == (Code.ENTRY_KIND_INVALID, "kind")
    assert recorded.ok and ledger.account(a["ani"].id).posted == idr(2)


@pytest.mark.parametrize(
    "bad_leg",
    [
        lambda ani: Leg(True, idr(1)),
        lambda ani: Leg(float(ani), idr(1)),  # type: ignore[arg-type]
        lambda ani: Leg(ani, 100),  # type: ignore[arg-type]
        lambda ani: (ani, idr(1)),
    ],
    ids=["account-true", "account-float", "amount-int", "tuple"],
)
def test_a_leg_of_the_wrong_types_is_refused_and_hides_no_neighbour(
    ledger: Ledger, bad_leg: Callable[[int], object]
) -> None:
    """A leg whose account id is `True` or `1.0`, whose amount is not `Money`, or that is
    not a `Leg`, is `legs_invalid` (field `legs`), whatever shares its batch. `True` and
    `1.0` hash as account 1: before the check a batch could lock and load account 1 for
    neither request (refusing the valid one `account_not_found`), or record the entry
    against account 1 with a digest over `True`, which the audit then reported altered."""
    a = open_wallets(ledger, "ani")
    cash, ani = a["cash"].id, a["ani"].id
    legs = (bad_leg(ani), Leg(cash, idr(-1)))
    odd = replace(transfer("odd", a["cash"], a["ani"], idr(1)), legs=legs)  # type: ignore[arg-type]
    good = transfer("good", a["cash"], a["ani"], idr(2))
    for batch in ([odd, good], [good, odd]):
        outcomes = {o.entry_id: o for o in ledger.post_batch(batch)}
        assert (outcomes["odd"].code, outcomes["odd"].field) == (Code.LEGS_INVALID, "legs")
        assert outcomes["good"].ok
    assert ledger.account(ani).posted == idr(2)
    assert ledger.verify().intact


@pytest.mark.parametrize("kind", [EntryKind.VOID_PENDING, EntryKind.REVERSAL])
def test_a_target_id_that_is_not_text_is_refused_with_a_code(
    ledger: Ledger, kind: EntryKind
) -> None:
    """A resolution or reversal naming its target with something other than text (a
    list) is `pending_id_required` (field `target_id`), not a TypeError from hashing it."""
    request = replace(resolution("undo", kind, "fund"), target_id=["fund"])  # type: ignore[arg-type]
    (outcome,) = ledger.post_batch([request])
    assert (outcome.code, outcome.field) == (Code.PENDING_ID_REQUIRED, "target_id")


def test_metadata_both_malformed_and_too_large_gets_the_code_listed_first(ledger: Ledger) -> None:
    """`LedgerErrorCode` lists the codes "in the order the checks run": metadata breaking
    both rules gets the one listed first."""
    a = open_wallets(ledger, "ani")
    request = replace(
        transfer("pay", a["cash"], a["ani"], idr(1)),
        metadata={"Bad_Key": "x" * (2 * METADATA_CHARS_MAX)},
    )
    (outcome,) = ledger.post_batch([request])
    listed = [Code.METADATA_INVALID, Code.METADATA_TOO_LARGE]
    assert outcome.code == min(listed, key=list(Code).index) == Code.METADATA_INVALID


_READS: dict[str, tuple[Callable[[Ledger], object], Code]] = {
    "account-2**63": (lambda ledger: ledger.account(2**63), Code.ACCOUNT_NOT_FOUND),
    "account-minus-2**64": (lambda ledger: ledger.account(-(2**64)), Code.ACCOUNT_NOT_FOUND),
    "balance-2**63": (
        lambda ledger: ledger.balance_as_of(2**63, _LATE),
        Code.ACCOUNT_NOT_FOUND,
    ),
    "statement-2**64": (
        lambda ledger: ledger.statement(2**64, from_at=_EARLY, to_at=_LATE),
        Code.ACCOUNT_NOT_FOUND,
    ),
    "entry-nul": (lambda ledger: ledger.entry("a\x00b"), Code.ENTRY_NOT_FOUND),
    "entry-lone-surrogate": (lambda ledger: ledger.entry("a\ud800"), Code.ENTRY_NOT_FOUND),
}


@pytest.mark.parametrize("name", list(_READS))
def test_reading_an_id_that_no_row_can_have_is_not_found(ledger: Ledger, name: str) -> None:
    """Reads of an account id outside 64 bits, or of an entry id no entry can have, are
    `account_not_found` / `entry_not_found`, not the driver's OverflowError or DataError."""
    read, code = _READS[name]
    with pytest.raises(LedgerError) as refused:
        read(ledger)
    assert refused.value.code is code


# Property: any request a caller can build gets an outcome with a code, or a LedgerError.

_HOSTILE_TEXT = st.one_of(
    st.text(max_size=70),
    st.sampled_from(["", "hold", "pay", "a\x00b", "a\ud800", "x" * 65, "ok:id/1"]),
)
_METADATA_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), _HOSTILE_TEXT, st.just(10**5000)
)
_METADATA = st.dictionaries(
    st.one_of(st.sampled_from(["note", "ref"]), st.text(max_size=8)),
    _METADATA_VALUES,
    max_size=3,
)
_BUSINESS_DATES = st.one_of(
    st.just(BUSINESS_DATE), st.dates(), st.datetimes(timezones=st.just(UTC))
)


def _hostile_requests(account_ids: Sequence[int]) -> st.SearchStrategy[list[EntryRequest]]:
    accounts = st.one_of(
        st.sampled_from(list(account_ids)), st.integers(min_value=-(2**70), max_value=2**70)
    )
    money = st.builds(
        Money,
        st.integers(min_value=-AMOUNT_MINOR_MAX, max_value=AMOUNT_MINOR_MAX),
        st.sampled_from(["IDR", "JPY"]),
    )
    legs = st.lists(st.builds(Leg, accounts, money), max_size=4).map(tuple)
    request = st.builds(
        EntryRequest,
        entry_id=_HOSTILE_TEXT,
        business_date=_BUSINESS_DATES,
        legs=legs,
        kind=st.sampled_from(EntryKind),
        target_id=st.one_of(st.none(), _HOSTILE_TEXT),
        timeout_s=st.one_of(st.none(), st.integers(min_value=-10, max_value=10**7)),
        metadata=_METADATA,
        linked=st.booleans(),
    )
    return st.lists(request, min_size=1, max_size=6)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_batch_a_caller_can_build_gets_outcomes_with_codes(
    ledger: Ledger, data: st.DataObject
) -> None:
    """Hostile but well-typed batches get outcomes with codes (or a `LedgerError`), and
    after whatever was recorded the audit is intact."""
    a = open_wallets(ledger, "ani", "budi")
    ids = [a["cash"].id, a["ani"].id, a["budi"].id]
    batch = data.draw(_hostile_requests(ids))
    outcomes: list[EntryOutcome] = []
    refused: LedgerError | None = None
    try:
        outcomes = ledger.post_batch(batch)
    except LedgerError as error:
        refused = error
    if refused is not None:
        assert refused.code.value in _CODES
    else:
        assert len(outcomes) == len(batch)
        assert all(o.ok or o.code in _CODES for o in outcomes)
    assert ledger.verify().intact
