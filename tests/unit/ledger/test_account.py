"""Account specs and the balances an account derives from its cached amounts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ledger.account import AccountKind, AccountSpec
from ledger.errors import LedgerError
from ledger.errors import LedgerErrorCode as Code
from ledger.money import AMOUNT_MINOR_MAX, Money
from tests.unit.ledger.book import make_account

_WALLET = AccountSpec("c1:ani", 1, "IDR", AccountKind.MEMBER_WALLET)


def _wrong(value: object) -> Any:
    """`value` passed where the type checker expects another type."""
    return value


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (replace(_WALLET, ref=""), Code.ACCOUNT_REF_INVALID),
        (replace(_WALLET, ref="-ani"), Code.ACCOUNT_REF_INVALID),
        (replace(_WALLET, ref="a" * 65), Code.ACCOUNT_REF_INVALID),
        (replace(_WALLET, currency="XXX"), Code.CURRENCY_UNKNOWN),
        (replace(_WALLET, min_balance_minor=None), Code.ACCOUNT_LIMITS_INVALID),
        (replace(_WALLET, min_balance_minor=1), Code.ACCOUNT_LIMITS_INVALID),
        (replace(_WALLET, min_balance_minor=-AMOUNT_MINOR_MAX - 1), Code.ACCOUNT_LIMITS_INVALID),
        (replace(_WALLET, max_balance_minor=-1), Code.ACCOUNT_LIMITS_INVALID),
        (replace(_WALLET, max_balance_minor=AMOUNT_MINOR_MAX + 1), Code.ACCOUNT_LIMITS_INVALID),
        # Values of the wrong type, as a caller outside Python's type checks may send.
        (replace(_WALLET, ref=_wrong(123)), Code.ACCOUNT_REF_INVALID),
        (replace(_WALLET, coop_id=-1), Code.ACCOUNT_COOP_INVALID),
        (replace(_WALLET, coop_id=2**63), Code.ACCOUNT_COOP_INVALID),
        (replace(_WALLET, coop_id=_wrong("1")), Code.ACCOUNT_COOP_INVALID),
        (replace(_WALLET, coop_id=_wrong(True)), Code.ACCOUNT_COOP_INVALID),
        (replace(_WALLET, currency=_wrong(["IDR"])), Code.CURRENCY_UNKNOWN),
        (replace(_WALLET, kind=_wrong("member_wallet")), Code.ACCOUNT_KIND_INVALID),
        (replace(_WALLET, min_balance_minor=_wrong(-0.5)), Code.ACCOUNT_LIMITS_INVALID),
        (replace(_WALLET, max_balance_minor=_wrong(1.5)), Code.ACCOUNT_LIMITS_INVALID),
    ],
    ids=lambda value: str(getattr(value, "value", "")) or None,
)
def test_a_spec_outside_its_limits_is_refused(spec: AccountSpec, code: Code) -> None:
    with pytest.raises(LedgerError) as refused:
        spec.validated()
    assert refused.value.code is code


@pytest.mark.parametrize(
    "spec",
    [
        _WALLET,
        replace(_WALLET, ref="c1:ani.2/x_y-z", min_balance_minor=-AMOUNT_MINOR_MAX),
        replace(_WALLET, max_balance_minor=0),
        replace(_WALLET, max_balance_minor=AMOUNT_MINOR_MAX),
        AccountSpec("c1:cash", 1, "JPY", AccountKind.COOP_CASH, None, None),
    ],
)
def test_a_spec_within_its_limits_is_accepted(spec: AccountSpec) -> None:
    assert spec.validated() is spec


def test_available_is_posted_minus_held_debits_and_pending_is_the_net_of_holds() -> None:
    account = replace(
        make_account(1), posted_minor=1_000, pending_debit_minor=300, pending_credit_minor=50
    )
    assert account.posted == Money(1_000, "IDR")
    assert account.available == Money(700, "IDR")
    assert account.pending == Money(-250, "IDR")


def test_a_limit_violation_names_the_limit_broken() -> None:
    wallet = make_account(1, max_balance_minor=100)
    assert wallet.limit_violation() is None
    assert wallet.with_movement(0, 1, 0).limit_violation() is Code.INSUFFICIENT_FUNDS
    assert wallet.with_movement(100, 0, 1).limit_violation() is Code.BALANCE_LIMIT_EXCEEDED
    assert wallet.with_movement(100, 100, 0).limit_violation() is None
    unlimited = make_account(2, min_balance_minor=None)
    assert unlimited.with_movement(-(10**15), 0, 0).limit_violation() is None


def test_a_movement_changes_only_the_balances_and_the_posting_count() -> None:
    account = make_account(1, max_balance_minor=500)
    moved = account.with_movement(100, 20, 30, postings=1)
    assert (moved.posted_minor, moved.pending_debit_minor, moved.pending_credit_minor) == (
        account.posted_minor + 100,
        account.pending_debit_minor + 20,
        account.pending_credit_minor + 30,
    )
    assert moved.posting_count == account.posting_count + 1
    assert account.with_movement(0, 0, 0) == account
    unchanged = ("id", "ref", "coop_id", "currency", "kind", "status")
    assert all(getattr(moved, name) == getattr(account, name) for name in unchanged)
    assert (moved.min_balance_minor, moved.max_balance_minor) == (account.min_balance_minor, 500)
