"""Opening, freezing and closing accounts, on both engines, and the bounds on their balances:
accounts without limits are held within 10^15 minor units each way, the most `Money` holds,
so that every balance (posted, available, pending) reads back."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from ledger.account import Account, AccountKind, AccountSpec, AccountStatus
from ledger.db import run_transaction
from ledger.entry import EntryKind, EntryRequest
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import AMOUNT_MINOR_MAX, Money
from ledger.service import Ledger, set_accounts_status_in
from tests.builders import BUSINESS_DATE, idr, open_wallets, transfer
from tests.conftest import TEST_SEAL_KEY

_SPEC = AccountSpec("c1:ani", 1, "IDR", AccountKind.MEMBER_WALLET, -1000, 10**9)


def _code(call: object) -> Code:
    assert callable(call)
    with pytest.raises(LedgerError) as refused:
        call()
    return refused.value.code


def test_opening_an_account_twice_with_the_same_spec_returns_the_same_account(
    ledger: Ledger,
) -> None:
    first = ledger.open_account(_SPEC)
    again = ledger.open_account(_SPEC)
    assert again == first
    assert (first.status, first.posted_minor, first.posting_count) == (AccountStatus.ACTIVE, 0, 0)
    assert ledger.account(first.id) == first


def _conflict(ledger: Ledger, spec: AccountSpec) -> tuple[Code, str | None]:
    with pytest.raises(LedgerError) as refused:
        ledger.open_account(spec)
    return refused.value.code, refused.value.field


def test_opening_an_existing_ref_with_any_other_spec_is_a_conflict_naming_the_field(
    ledger: Ledger,
) -> None:
    ledger.open_account(_SPEC)
    variants = {
        "coop_id": replace(_SPEC, coop_id=2),
        "currency": replace(_SPEC, currency="JPY"),
        "kind": replace(_SPEC, kind=AccountKind.MERCHANT_WALLET),
        "min_balance_minor": replace(_SPEC, min_balance_minor=0),
        "max_balance_minor": replace(_SPEC, max_balance_minor=None),
    }
    refused = {field: _conflict(ledger, spec) for field, spec in variants.items()}
    assert refused == {
        field: (Code.ACCOUNT_EXISTS_WITH_DIFFERENT_SPEC, field) for field in variants
    }


def test_a_spec_differing_in_several_fields_names_the_first_in_the_documented_order(
    ledger: Ledger,
) -> None:
    """Coop, currency, kind, lower limit, upper limit (`SPEC_FIELDS`): each spec below
    differs in every field from the named one on."""
    ledger.open_account(_SPEC)
    everything = AccountSpec(_SPEC.ref, 2, "JPY", AccountKind.MERCHANT_WALLET, 0, None)
    order = ["coop_id", "currency", "kind", "min_balance_minor", "max_balance_minor"]
    named = []
    spec = everything
    for field in order:
        named.append(_conflict(ledger, spec)[1])
        spec = replace(spec, **{field: getattr(_SPEC, field)})
    assert named == order
    assert ledger.open_account(spec) == ledger.open_account(_SPEC)


def test_an_invalid_spec_is_refused_before_anything_is_written(ledger: Ledger) -> None:
    assert _code(lambda: ledger.open_account(replace(_SPEC, ref="bad ref"))) is (
        Code.ACCOUNT_REF_INVALID
    )
    assert _code(lambda: ledger.open_account(replace(_SPEC, min_balance_minor=None))) is (
        Code.ACCOUNT_LIMITS_INVALID
    )
    assert ledger.verify().accounts_checked == 0


def test_a_status_that_is_not_an_account_status_is_refused_and_changes_nothing(
    ledger: Ledger,
) -> None:
    opened = ledger.open_account(_SPEC)
    wrong: Any = "frozen"
    assert _code(lambda: ledger.set_account_status(opened.id, wrong)) is (
        Code.ACCOUNT_STATUS_INVALID
    )
    assert ledger.account(opened.id).status is AccountStatus.ACTIVE


def test_an_unknown_account_is_not_found(ledger: Ledger) -> None:
    assert _code(lambda: ledger.account(10**9)) is Code.ACCOUNT_NOT_FOUND
    assert _code(lambda: ledger.set_account_status(10**9, AccountStatus.FROZEN)) is (
        Code.ACCOUNT_NOT_FOUND
    )


def test_an_account_with_a_balance_or_an_open_hold_cannot_be_closed(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(10)))
    assert _code(lambda: ledger.set_account_status(a["ani"].id, AccountStatus.CLOSED)) is (
        Code.ACCOUNT_NOT_EMPTY
    )
    ledger.post(
        transfer("hold", a["ani"], a["budi"], idr(10), kind=EntryKind.PENDING, timeout_s=60)
    )
    # Budi's balance is zero, but a hold will credit him.
    assert _code(lambda: ledger.set_account_status(a["budi"].id, AccountStatus.CLOSED)) is (
        Code.ACCOUNT_NOT_EMPTY
    )
    ledger.post(EntryRequest("void", BUSINESS_DATE, kind=EntryKind.VOID_PENDING, target_id="hold"))
    assert ledger.set_account_status(a["budi"].id, AccountStatus.CLOSED).status is (
        AccountStatus.CLOSED
    )


def test_closing_several_accounts_at_once_is_all_or_none(ledger: Ledger) -> None:
    """`set_accounts_status_in` refuses the whole set when one account is not empty (or
    not found), changing none of them; an empty set all closes in one go."""
    a = open_wallets(ledger, "ani", "budi", "citra")
    ledger.post(transfer("fund-ani", a["cash"], a["ani"], idr(10)))
    ids = [a["ani"].id, a["budi"].id, a["citra"].id]

    def close(account_ids: list[int]) -> dict[int, Account]:
        return run_transaction(
            ledger.engine,
            lambda conn: set_accounts_status_in(
                conn, account_ids, AccountStatus.CLOSED, seal_key=TEST_SEAL_KEY
            ),
        )

    assert _code(lambda: close(ids)) is Code.ACCOUNT_NOT_EMPTY
    assert _code(lambda: close([a["budi"].id, 10**9])) is Code.ACCOUNT_NOT_FOUND
    assert {ledger.account(i).status for i in ids} == {AccountStatus.ACTIVE}
    closed = close(ids[1:])
    assert {found.status for found in closed.values()} == {AccountStatus.CLOSED}
    assert [ledger.account(i).status for i in ids] == [
        AccountStatus.ACTIVE,
        AccountStatus.CLOSED,
        AccountStatus.CLOSED,
    ]


def test_a_closed_account_stays_closed_and_refuses_every_movement(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(10)))
    ledger.set_account_status(a["budi"].id, AccountStatus.CLOSED)
    assert _code(lambda: ledger.post(transfer("pay", a["ani"], a["budi"], idr(1)))) is (
        Code.ACCOUNT_CLOSED
    )
    for status in (AccountStatus.ACTIVE, AccountStatus.FROZEN):
        assert _code(lambda s=status: ledger.set_account_status(a["budi"].id, s)) is (
            Code.ACCOUNT_CLOSED
        )
    assert ledger.account(a["budi"].id).status is AccountStatus.CLOSED


def test_a_frozen_account_refuses_posts_both_ways_until_unfrozen(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "budi")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(10)))
    ledger.set_account_status(a["ani"].id, AccountStatus.FROZEN)
    refused = {
        "debit": _code(lambda: ledger.post(transfer("out", a["ani"], a["budi"], idr(1)))),
        "credit": _code(lambda: ledger.post(transfer("in", a["cash"], a["ani"], idr(1)))),
        "hold": _code(
            lambda: ledger.post(
                transfer("h", a["ani"], a["budi"], idr(1), kind=EntryKind.PENDING, timeout_s=60)
            )
        ),
        "reversal": _code(
            lambda: ledger.post(
                EntryRequest("undo", BUSINESS_DATE, kind=EntryKind.REVERSAL, target_id="fund")
            )
        ),
    }
    assert refused == dict.fromkeys(refused, Code.ACCOUNT_FROZEN)
    ledger.set_account_status(a["ani"].id, AccountStatus.ACTIVE)
    ledger.post(transfer("out", a["ani"], a["budi"], idr(1)))
    assert ledger.account(a["budi"].id).posted == idr(1)


def test_a_hold_on_a_frozen_account_can_be_voided_but_not_posted(ledger: Ledger) -> None:
    a = open_wallets(ledger, "ani", "toko")
    ledger.post(transfer("fund", a["cash"], a["ani"], idr(10)))
    ledger.post(transfer("hold", a["ani"], a["toko"], idr(7), kind=EntryKind.PENDING, timeout_s=60))
    ledger.set_account_status(a["ani"].id, AccountStatus.FROZEN)
    capture = EntryRequest("capture", BUSINESS_DATE, kind=EntryKind.POST_PENDING, target_id="hold")
    assert _code(lambda: ledger.post(capture)) is Code.ACCOUNT_FROZEN
    ledger.post(EntryRequest("void", BUSINESS_DATE, kind=EntryKind.VOID_PENDING, target_id="hold"))
    ani = ledger.account(a["ani"].id)
    assert (ani.status, ani.available, ani.pending_debit_minor) == (
        AccountStatus.FROZEN,
        idr(10),
        0,
    )
    assert ledger.account(a["toko"].id).pending_credit_minor == 0
    assert ledger.verify().intact


def test_two_callers_opening_the_same_ref_at_once_both_get_the_account(pg_ledger: Ledger) -> None:
    """Pinned defect (PostgreSQL): ledger/service.py `_open_account` reads by ref, then
    inserts; when two callers both read nothing, the second insert fails with a raw
    IntegrityError on `uq_ledger_account_ref` (not a race `run_transaction` retries,
    see ledger/db.py `_RACE_CONSTRAINTS`) instead of returning the account. A hook holds
    each caller at its INSERT until both have read, which makes the race certain."""
    both_read = threading.Barrier(2)

    def hold_at_insert(*args: Any) -> None:
        statement: str = args[2]
        if statement.lstrip().upper().startswith("INSERT INTO LEDGER_ACCOUNT"):
            with contextlib.suppress(threading.BrokenBarrierError):
                both_read.wait(timeout=2)

    event.listen(pg_ledger.engine, "before_cursor_execute", hold_at_insert)
    results: list[object] = [None, None]

    def open_it(index: int) -> None:
        try:
            results[index] = pg_ledger.open_account(_SPEC).id
        except Exception as error:  # The defect is an error of an unexpected type.
            results[index] = error

    callers = [threading.Thread(target=open_it, args=(i,)) for i in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10)
    event.remove(pg_ledger.engine, "before_cursor_execute", hold_at_insert)
    assert results[0] == results[1], results
    assert isinstance(results[0], int)


# Balance bounds: accounts without limits are held within what `Money` holds.

_EARLY = datetime(2000, 1, 1, tzinfo=UTC)
_LATE = datetime(2999, 1, 1, tzinfo=UTC)


def _unlimited(ledger: Ledger, ref: str) -> Account:
    return ledger.open_account(AccountSpec(ref, 1, "IDR", AccountKind.SUSPENSE, None))


def _move(
    entry_id: str, debit: Account, credit: Account, amount_minor: int, *, hold: bool = False
) -> EntryRequest:
    """Move `amount_minor` IDR from `debit` to `credit`, posted or (with `hold`) held."""
    return transfer(
        entry_id,
        debit,
        credit,
        Money(amount_minor, "IDR"),
        kind=EntryKind.PENDING if hold else EntryKind.POSTED,
        timeout_s=600 if hold else None,
    )


def _max_transfer(entry_id: str, debit: Account, credit: Account) -> EntryRequest:
    return _move(entry_id, debit, credit, AMOUNT_MINOR_MAX)


def test_an_account_without_limits_stays_within_what_money_holds(ledger: Ledger) -> None:
    """Accounts without limits are held within 10^15 minor units each way, the most `Money`
    holds. Of three transfers of 10^15 into such an account only the first is recorded;
    the ones past the bound are refused with a code, each on its own (not a balance of
    2*10^15 that reads back as `amount_too_large`, nor a batch failing on 64-bit
    overflow), and every balance reads back."""
    src, dst = _unlimited(ledger, "src"), _unlimited(ledger, "dst")
    outcomes = ledger.post_batch([_max_transfer(f"max-{i}", src, dst) for i in range(3)])
    assert outcomes[0].ok
    assert [o.code for o in outcomes[1:]] == [Code.INSUFFICIENT_FUNDS] * 2
    assert ledger.account(dst.id).posted_minor == AMOUNT_MINOR_MAX
    assert ledger.balance_as_of(src.id, _LATE).amount_minor == -AMOUNT_MINOR_MAX
    page = ledger.statement(dst.id, from_at=_EARLY, to_at=_LATE)
    assert page.closing_balance.amount_minor == AMOUNT_MINOR_MAX
    assert ledger.verify().intact


def _unreadable_balances(ledger: Ledger, accounts: list[Account]) -> dict[str, str]:
    """Each account's posted, available and pending balance that cannot be read back."""
    failures: dict[str, str] = {}
    for opened in accounts:
        current = ledger.account(opened.id)
        for name in ("posted", "available", "pending"):
            try:
                getattr(current, name)
            except LedgerError as error:
                failures[f"{opened.ref}.{name}"] = error.code.value
    return failures


def test_every_balance_of_an_account_with_holds_reads_back(ledger: Ledger) -> None:
    """README: accounts are held within 10^15 minor units "so every balance reads back".
    Holds count too: an unlimited account that paid out Rp5 trillion is not left with
    holds crediting it Rp15 trillion, a pending balance that would raise
    `amount_too_large` instead of reading back."""
    payer, till, source = (_unlimited(ledger, ref) for ref in ("payer", "till", "source"))
    half = AMOUNT_MINOR_MAX // 2
    ledger.post(_move("pay-out", till, payer, half))
    outcomes = ledger.post_batch(
        [
            _move("hold-1", source, till, AMOUNT_MINOR_MAX, hold=True),
            _move("hold-2", payer, till, half, hold=True),
        ]
    )
    recorded = [o.entry_id for o in outcomes if o.ok]
    unreadable = _unreadable_balances(ledger, [payer, till, source])
    assert unreadable == {}, f"recorded {recorded}; balances that do not read: {unreadable}"
