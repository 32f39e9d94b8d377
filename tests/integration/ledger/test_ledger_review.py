"""A review of the ledger's promises at their edges, on both engines unless marked.

Input a caller controls gets an outcome with a code or a `LedgerError`, never another
exception: ids no database can store, metadata that cannot be rendered, a datetime as a
business date, empty or oversized linked groups, ids and moments no row can have, amounts
at the edge of what `Money` holds (found by this review, fixed in stop 10). A balance or
statement read for a past moment does not change afterwards (PostgreSQL). The rest pins
behaviour no other test covers: statements paged across postings that share a commit
moment, an audit after every way a hold and an entry can end, refusals evaluated afresh,
and races on PostgreSQL between two reversals of one entry and between a capture, a void
and the expiry sweep of one hold.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.account import Account, AccountKind, AccountSpec
from ledger.db import make_engine
from ledger.entry import EntryKind, EntryOutcome, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.service import Ledger
from ledger.statements import StatementLine
from ledger.validation import BATCH_SIZE_MAX
from tests.builders import BUSINESS_DATE, idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.races import blocked_rival

T = TypeVar("T")

_US = timedelta(microseconds=1)
_EARLY = datetime(2000, 1, 1, tzinfo=UTC)
_LATE = datetime(2999, 1, 1, tzinfo=UTC)
_CODES = frozenset(code.value for code in Code)
_START_TIMEOUT_S = 30.0


def _resolution(entry_id: str, kind: EntryKind, target_id: str) -> EntryRequest:
    return EntryRequest(entry_id, BUSINESS_DATE, kind=kind, target_id=target_id)


def _legs(debit: Account, credit: Account, amount: Money) -> tuple[Leg, ...]:
    return (Leg(debit.id, -amount), Leg(credit.id, amount))


def _code_of(ledger: Ledger, request: EntryRequest) -> Code | None:
    try:
        ledger.post(request)
    except LedgerError as error:
        return error.code
    return None


def _together(works: Sequence[Callable[[], T]]) -> list[T]:
    """Run each of `works` on its own thread, released at once; re-raise any exception."""
    barrier = threading.Barrier(len(works))

    def start(work: Callable[[], T]) -> T:
        barrier.wait(timeout=_START_TIMEOUT_S)
        return work()

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        return list(pool.map(start, works))


def _all_lines(
    ledger: Ledger, account_id: int, page_size: int, from_at: datetime, to_at: datetime
) -> list[StatementLine]:
    lines: list[StatementLine] = []
    cursor: str | None = None
    for _ in range(100):
        page = ledger.statement(
            account_id, from_at=from_at, to_at=to_at, page_size=page_size, cursor=cursor
        )
        lines.extend(page.lines)
        cursor = page.next_cursor
        if cursor is None:
            return lines
    raise AssertionError("pagination did not end")


# Hostile input: every refusal must be a code, never an exception of the driver or Python.


@pytest.mark.parametrize("bad_id", ["a\x00b", "a\ud800b"], ids=["nul", "lone-surrogate"])
def test_an_entry_id_no_database_can_store_is_refused_with_a_code(
    ledger: Ledger, bad_id: str
) -> None:
    """An entry id with a NUL or a lone surrogate is `entry_id_invalid`. It used to reach
    the database's replay lookup before validation, which raised (psycopg's
    CharacterNotInRepertoire, UnicodeEncodeError); lookups now skip ids no entry can have."""
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(10)))
    (outcome,) = ledger.post_batch([transfer(bad_id, a["ani"], a["budi"], idr(1))])
    assert outcome.code == Code.ENTRY_ID_INVALID
    assert ledger.account(a["budi"].id).posted == idr(0)


@pytest.mark.parametrize("bad_target", ["a\x00b", "\udfff"], ids=["nul", "lone-surrogate"])
def test_a_target_id_no_database_can_store_is_not_found(ledger: Ledger, bad_target: str) -> None:
    """A void or reversal whose target id holds a NUL or a lone surrogate finds nothing
    (`pending_not_found`, `entry_not_found`); the lookup used to send the id to the
    database, which raised."""
    outcomes = ledger.post_batch(
        [
            _resolution("void", EntryKind.VOID_PENDING, bad_target),
            _resolution("undo", EntryKind.REVERSAL, bad_target),
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
    """Metadata values of the documented types that cannot be rendered are refused: a
    string with a lone surrogate (it raised UnicodeEncodeError in the digest) and an
    integer beyond 64 bits (one of more than 4,300 digits raised ValueError in `json`)."""
    a = open_wallets(ledger, "ani")
    request = replace(transfer("tagged", a["cash"], a["ani"], idr(1)), metadata=metadata)
    (outcome,) = ledger.post_batch([request])
    assert outcome.code in (Code.METADATA_INVALID, Code.METADATA_TOO_LARGE)


def test_a_business_date_given_as_a_datetime_gets_an_outcome(ledger: Ledger) -> None:
    """A `datetime` given as the business date (it is a `date` too) is
    `business_date_invalid`; comparing it with the date bounds raised TypeError."""
    a = open_wallets(ledger, "ani")
    request = replace(
        transfer("dated", a["cash"], a["ani"], idr(1)),
        business_date=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    )
    (outcome,) = ledger.post_batch([request])
    assert outcome.code in (None, Code.BUSINESS_DATE_INVALID)


@pytest.mark.parametrize("size", [0, BATCH_SIZE_MAX + 1], ids=["empty", "oversized"])
def test_an_empty_or_oversized_linked_group_is_refused_with_a_code(
    ledger: Ledger, size: int
) -> None:
    """`post_linked` of no request, or of more than BATCH_SIZE_MAX, is `batch_empty` /
    `batch_too_large`, as `post_batch` says; it raised a bare AssertionError."""
    a = open_wallets(ledger, "ani")
    group = [transfer(f"g{i}", a["cash"], a["ani"], idr(1)) for i in range(size)]
    with pytest.raises(LedgerError) as refused:
        ledger.post_linked(group)
    assert refused.value.code in (Code.BATCH_EMPTY, Code.BATCH_TOO_LARGE)
    assert ledger.account(a["ani"].id).posting_count == 0


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
    `account_not_found` / `entry_not_found`; the driver raised OverflowError or DataError."""
    read, code = _READS[name]
    with pytest.raises(LedgerError) as refused:
        read(ledger)
    assert refused.value.code is code


_WEST = timezone(timedelta(hours=-5))
_EAST = timezone(timedelta(hours=5))
_MOMENTS: dict[str, Callable[[Ledger, int], object]] = {
    "balance-naive": lambda ledger, i: ledger.balance_as_of(i, datetime(2026, 1, 1)),
    "balance-after-year-9999-in-utc": lambda ledger, i: ledger.balance_as_of(
        i, datetime(9999, 12, 31, 23, 0, tzinfo=_WEST)
    ),
    "statement-before-year-1-in-utc": lambda ledger, i: ledger.statement(
        i, from_at=datetime(1, 1, 1, 1, 0, tzinfo=_EAST), to_at=_LATE
    ),
}


@pytest.mark.parametrize("name", list(_MOMENTS))
def test_a_moment_that_is_naive_or_beyond_the_utc_calendar_is_refused_with_a_code(
    ledger: Ledger, name: str
) -> None:
    """A naive moment, or one whose UTC instant falls outside years 1..9999, is
    `period_invalid` for `balance_as_of` and `statement` alike (it raised AssertionError or
    OverflowError)."""
    a = open_wallets(ledger, "ani")
    with pytest.raises(LedgerError):
        _MOMENTS[name](ledger, a["ani"].id)


# Amounts at the limits of the representation.


def _unlimited(ledger: Ledger, ref: str) -> Account:
    return ledger.open_account(AccountSpec(ref, 1, "IDR", AccountKind.SUSPENSE, None))


def _max_transfer(entry_id: str, debit: Account, credit: Account) -> EntryRequest:
    return EntryRequest(
        entry_id, BUSINESS_DATE, _legs(debit, credit, Money(AMOUNT_MINOR_MAX, "IDR"))
    )


def test_an_account_without_limits_stays_within_what_money_holds(ledger: Ledger) -> None:
    """Accounts without limits are held within 10^15 minor units each way, the most `Money`
    holds. Two transfers of 10^15 into such an account were both recorded, and its balance
    of 2*10^15 could then not be read back (`amount_too_large`); with more, the balances
    passed 64 bits and the whole batch failed. Now the transfers past the bound are refused
    with a code, each on its own, and every balance reads back."""
    src, dst = _unlimited(ledger, "src"), _unlimited(ledger, "dst")
    outcomes = ledger.post_batch([_max_transfer(f"max-{i}", src, dst) for i in range(3)])
    assert outcomes[0].ok
    assert [o.code for o in outcomes[1:]] == [Code.INSUFFICIENT_FUNDS] * 2
    assert ledger.account(dst.id).posted_minor == AMOUNT_MINOR_MAX
    assert ledger.balance_as_of(src.id, _LATE).amount_minor == -AMOUNT_MINOR_MAX
    page = ledger.statement(dst.id, from_at=_EARLY, to_at=_LATE)
    assert page.closing_balance.amount_minor == AMOUNT_MINOR_MAX
    assert ledger.verify().intact


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


# Behaviour no other test pins.


def test_a_resolution_or_reversal_before_its_target_in_the_batch_finds_nothing(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "toko")
    outcomes = ledger.post_batch(
        [
            _resolution("capture", EntryKind.POST_PENDING, "hold"),
            _resolution("undo", EntryKind.REVERSAL, "fund"),
            transfer("fund", a["cash"], a["ani"], idr(100)),
            transfer("hold", a["ani"], a["toko"], idr(40), kind=EntryKind.PENDING, timeout_s=60),
        ]
    )
    assert [o.code for o in outcomes] == [Code.PENDING_NOT_FOUND, Code.ENTRY_NOT_FOUND, None, None]
    ani = ledger.account(a["ani"].id)
    assert (ani.posted, ani.available) == (idr(100), idr(60))
    assert ledger.account(a["toko"].id).posted == idr(0)
    # Evaluated afresh now that the targets exist: refusals were not recorded.
    later = ledger.post_batch(
        [
            _resolution("capture", EntryKind.POST_PENDING, "hold"),
            _resolution("undo", EntryKind.REVERSAL, "fund"),
        ]
    )
    # The capture is recorded; the reversal now meets Ani's funds (60 left of 100).
    assert [(o.code, o.replayed) for o in later] == [
        (None, False),
        (Code.INSUFFICIENT_FUNDS, False),
    ]
    assert ledger.account(a["toko"].id).posted == idr(40)


def test_a_request_refused_for_funds_is_recorded_when_replayed_after_funding(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "budi")
    pay = transfer("pay", a["ani"], a["budi"], idr(30))
    assert _code_of(ledger, pay) is Code.INSUFFICIENT_FUNDS
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(30)))
    recorded = ledger.post(pay)
    assert recorded.entry_id == "pay"
    (again,) = ledger.post_batch([pay])
    assert again.ok and again.replayed and again.entry == recorded
    assert ledger.account(a["budi"].id).posted == idr(30)
    assert ledger.account(a["ani"].id).posted == idr(0)


def test_statement_pages_split_postings_that_share_one_commit_moment(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani")
    before = ledger.post(transfer("before", a["cash"], a["ani"], idr(1)))
    batch = [transfer(f"same-{i}", a["cash"], a["ani"], idr(10 + i)) for i in range(7)]
    outcomes = ledger.post_batch(batch)
    shared = {o.entry.committed_at for o in outcomes if o.entry is not None}
    assert len(shared) == 1
    (moment,) = shared
    after = ledger.post(transfer("after", a["cash"], a["ani"], idr(100)))
    assert before.committed_at < moment < after.committed_at
    same_ids = [f"same-{i}" for i in range(7)]
    balances = [100 + sum(1000 + 100 * j for j in range(i + 1)) for i in range(7)]
    ani = a["ani"].id
    for page_size in range(1, 9):
        lines = _all_lines(ledger, ani, page_size, moment, moment + _US)
        assert [line.entry_id for line in lines] == same_ids, page_size
        assert [line.posting_no for line in lines] == list(range(2, 9))
        assert [line.balance_after.amount_minor for line in lines] == balances
        whole = _all_lines(ledger, ani, page_size, _EARLY, _LATE)
        assert [line.entry_id for line in whole] == ["before", *same_ids, "after"]
    page = ledger.statement(ani, from_at=moment, to_at=moment + _US, page_size=3)
    assert page.opening_balance == idr(1)
    assert page.closing_balance.amount_minor == balances[-1]
    empty = ledger.statement(ani, from_at=moment - _US, to_at=moment)
    assert empty.lines == () and empty.closing_balance == idr(1)
    assert ledger.balance_as_of(ani, moment - _US) == idr(1)
    assert ledger.balance_as_of(ani, moment).amount_minor == balances[-1]


def test_the_audit_is_intact_after_every_way_a_hold_or_an_entry_can_end(
    ledger: Ledger,
) -> None:
    a = open_wallets(ledger, "ani", "toko")
    ani, toko = a["ani"], a["toko"]

    def hold(entry_id: str, rupiah: int, timeout_s: int) -> EntryRequest:
        return transfer(
            entry_id, ani, toko, idr(rupiah), kind=EntryKind.PENDING, timeout_s=timeout_s
        )

    ledger.post(transfer("fund", a["cash"], ani, idr(1000)))
    ledger.post_batch(
        [
            hold("h-part", 100, 600),
            hold("h-full", 50, 600),
            hold("h-void", 70, 600),
            hold("h-expire", 30, 1),
            hold("h-part-short", 40, 1),
        ]
    )
    less = EntryRequest(
        "c-part", BUSINESS_DATE, _legs(ani, toko, idr(60)), EntryKind.POST_PENDING, "h-part"
    )
    less_short = replace(
        less, entry_id="c-part-short", target_id="h-part-short", legs=_legs(ani, toko, idr(15))
    )
    outcomes = ledger.post_batch(
        [
            less,
            less_short,
            _resolution("c-full", EntryKind.POST_PENDING, "h-full"),
            _resolution("v", EntryKind.VOID_PENDING, "h-void"),
            _resolution("r-part", EntryKind.REVERSAL, "c-part"),
            _resolution("r-fund", EntryKind.REVERSAL, "c-full"),
        ]
    )
    assert [o.code for o in outcomes] == [None] * 6
    time.sleep(1.1)
    # Only the unresolved short hold is due; the partly captured one is left alone.
    assert ledger.expire_holds() == 1
    assert ledger.expire_holds() == 0
    refusals = [
        (_resolution("r-again", EntryKind.REVERSAL, "c-part"), Code.ENTRY_ALREADY_REVERSED),
        (_resolution("r-undo", EntryKind.REVERSAL, "r-part"), Code.ENTRY_NOT_REVERSIBLE),
        (_resolution("v-late", EntryKind.VOID_PENDING, "h-part"), Code.PENDING_ALREADY_POSTED),
        (
            _resolution("e-part", EntryKind.EXPIRE_PENDING, "h-part-short"),
            Code.PENDING_ALREADY_POSTED,
        ),
        (_resolution("v-exp", EntryKind.VOID_PENDING, "h-expire"), Code.PENDING_EXPIRED),
        (_resolution("c-void", EntryKind.POST_PENDING, "h-void"), Code.PENDING_ALREADY_VOIDED),
    ]
    assert [_code_of(ledger, r) for r, _ in refusals] == [code for _, code in refusals]
    ani_now, toko_now = ledger.account(ani.id), ledger.account(toko.id)
    assert (ani_now.posted, ani_now.available) == (idr(985), idr(985))
    assert (toko_now.posted, toko_now.pending_credit_minor) == (idr(15), 0)
    assert ledger.seal() == 1 + 5 + 6 + 1
    report = ledger.verify()
    assert report.intact, report.findings
    assert (report.sealed_entries, report.unsealed_entries) == (13, 0)


# Time: what a reader saw as of a moment must not change once that moment has passed.


@pytest.mark.postgres
def test_a_balance_read_as_of_a_past_moment_does_not_change_afterwards(
    pg_ledger: Ledger,
) -> None:
    """An entry's `committed_at` is the clock its transaction reads once it holds its
    accounts, before its writes and COMMIT. A reader asking, in that gap, for the balance
    or the statement as of a moment after that clock reading got the answer without the
    entry, and once it committed the same question about the same past moment got another.
    Reads now wait for a transaction that holds the account, so the first answer is the
    final one."""
    ledger = pg_ledger
    a = open_wallets(ledger, "ani", "budi")
    ani = a["ani"].id
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(100)))
    ledger.post(transfer("pay", a["ani"], a["budi"], idr(30)))

    def read_now() -> tuple[datetime, Money, list[str]]:
        moment = datetime.now(UTC)
        lines = _all_lines(ledger, ani, 100, _EARLY, moment + _US)
        return moment, ledger.balance_as_of(ani, moment), [line.entry_id for line in lines]

    def reads_resolutions(statement: str) -> bool:
        return statement.startswith("SELECT ledger_entry.target_seq, ledger_entry.kind")

    undo = _resolution("undo", EntryKind.REVERSAL, "pay")
    with blocked_rival(ledger.engine, reads_resolutions, read_now) as rival:
        (outcome,) = ledger.post_batch([undo])
    moment, seen_balance, seen_lines = rival[0].result(timeout=30)
    assert outcome.entry is not None and outcome.entry.committed_at <= moment
    assert (seen_balance, seen_lines) == (idr(100), ["fund", "pay", "undo"])
    lines_now = [line.entry_id for line in _all_lines(ledger, ani, 100, _EARLY, moment + _US)]
    assert (ledger.balance_as_of(ani, moment), lines_now) == (seen_balance, seen_lines)


# Races on PostgreSQL, with real threads and separate transactions.


def _reverser(ledger: Ledger, entry_id: str, target_id: str) -> Callable[[], Code | None]:
    return lambda: _code_of(ledger, _resolution(entry_id, EntryKind.REVERSAL, target_id))


@contextmanager
def _ledgers_sharing(pg_url: str, count: int) -> Iterator[list[Ledger]]:
    """`count` ledger services (each with its own committer) over one engine."""
    engine = make_engine(pg_url, pool_size=4 * count)
    services = [Ledger(engine, seal_key=TEST_SEAL_KEY) for _ in range(count)]
    try:
        yield services
    finally:
        for service in services:
            service.close()
        engine.dispose()


@pytest.mark.postgres
def test_two_reversals_of_one_entry_from_two_threads_reverse_it_once(pg_url: str) -> None:
    with _ledgers_sharing(pg_url, 2) as services:
        first = services[0]
        a = open_wallets(first, "ani", "budi")
        rounds = 12
        first.post_batch(
            [transfer(f"pay-{i}", a["cash"], a["ani"], idr(10)) for i in range(rounds)]
        )
        for i in range(rounds):
            got = _together(
                [
                    _reverser(service, f"undo-{i}-{k}", f"pay-{i}")
                    for k, service in enumerate(services)
                ]
            )
            assert sorted(got, key=str) == sorted([None, Code.ENTRY_ALREADY_REVERSED], key=str)
        ani = first.account(a["ani"].id)
        assert (ani.posted, ani.posting_count) == (idr(0), 2 * rounds)
        assert first.account(a["cash"].id).posted == idr(0)
        assert first.verify().intact


@pytest.mark.postgres
def test_a_capture_a_void_and_the_expiry_sweep_racing_resolve_each_hold_once(
    pg_url: str,
) -> None:
    with _ledgers_sharing(pg_url, 3) as services:
        main = services[0]
        a = open_wallets(main, "ani", "toko")
        holds = 8
        main.post(transfer("fund", a["cash"], a["ani"], idr(100 * holds)))
        placed = main.post_batch(
            [
                transfer(
                    f"h{i}", a["ani"], a["toko"], idr(100), kind=EntryKind.PENDING, timeout_s=1
                )
                for i in range(holds)
            ]
        )
        assert all(o.ok for o in placed)
        expires_at = placed[0].entry.expires_at if placed[0].entry else None
        assert expires_at is not None
        time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds() - 0.004))

        def capture_all() -> list[Code | None]:
            return [
                _code_of(services[0], _resolution(f"c{i}", EntryKind.POST_PENDING, f"h{i}"))
                for i in range(holds)
            ]

        def void_all() -> list[Code | None]:
            return [
                _code_of(services[1], _resolution(f"v{i}", EntryKind.VOID_PENDING, f"h{i}"))
                for i in reversed(range(holds))
            ][::-1]

        def sweep() -> list[Code | None]:
            expired = 0
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                expired += services[2].expire_holds()
            return [None] * expired

        captures, voids, expiries = _together([capture_all, void_all, sweep])
        won = captures.count(None) + voids.count(None) + len(expiries)
        assert won == holds
        assert set(captures) <= {None, Code.PENDING_EXPIRED, Code.PENDING_ALREADY_VOIDED}
        allowed_void = {None, Code.PENDING_EXPIRED, Code.PENDING_ALREADY_POSTED}
        assert set(voids) <= allowed_void
        for capture, void in zip(captures, voids, strict=True):
            assert capture is not None or void is not None
        captured = captures.count(None)
        ani, toko = main.account(a["ani"].id), main.account(a["toko"].id)
        assert (ani.posted, ani.pending_debit_minor) == (idr(100 * (holds - captured)), 0)
        assert (toko.posted, toko.pending_credit_minor) == (idr(100 * captured), 0)
        assert main.expire_holds() == 0
        assert main.verify().intact
