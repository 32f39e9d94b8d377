"""Closing a cooperative that still has money in the network, on both engines.

A coop closes only when every ledger account it owns is empty (no posted balance, no
hold) and it is party to no obligation of a window not yet settled; its accounts close
with it, so nothing posts to them afterwards, and a payment racing the close either
lands first (and the close is refused) or is refused itself (PostgreSQL races).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date

import pytest

from interchange.fee_defaults import launch_schedule
from interchange.fee_schedule import FeeSchedule
from interchange.nik import NikVault
from interchange.payment_model import CashIn, CashOut, PaymentErrorCode
from interchange.registry import Registry
from interchange.registry_model import Coop, Member, ParticipantStatus
from ledger.account import AccountStatus
from ledger.entry import EntryKind, EntryRequest
from ledger.errors import LedgerError, LedgerErrorCode
from settlement.window_rules import WindowStatus
from tests.builders import BUSINESS_DATE, transfer
from tests.conftest import TEST_SEAL_KEY
from tests.integration.settlement.night import wait_for_cutoff
from tests.network import TestNetwork, cutoff_in, idr, network_on
from tests.outcomes import outcome_of
from tests.races import blocked_rival, change_while_a_payment_waits

OPEN_POSITION = "code:coop_has_open_position"


@dataclass(frozen=True)
class Counter:
    """A coop with no members of its own (`ksx`), and a member of another coop (`ani`)
    who may use its counter."""

    net: TestNetwork
    ksx: Coop
    ksy: Coop
    ani: Member


def a_counter(net: TestNetwork, *, cash_in: int = 0) -> Counter:
    ksx, ksy = net.add_coop("KSX"), net.add_coop("KSY")
    return Counter(net, ksx, ksy, net.add_member("ani", ksy, cash_in=cash_in))


def own_accounts(coop: Coop) -> dict[str, int]:
    return {"cash": coop.cash_account_id, "fee": coop.fee_account_id, "due": coop.due_account_id}


def statuses(net: TestNetwork, account_ids: list[int]) -> list[AccountStatus]:
    return [net.services.ledger.account(i).status for i in account_ids]


def close(net: TestNetwork, coop: Coop) -> str:
    return outcome_of(lambda: net.services.registry.set_coop_status(coop.id, "closed"))


def move(net: TestNetwork, entry_id: str, debit_id: int, credit_id: int, rupiah: int) -> None:
    ledger = net.services.ledger
    ledger.post(
        transfer(entry_id, ledger.account(debit_id), ledger.account(credit_id), idr(rupiah))
    )


def free_of_fees() -> FeeSchedule:
    """The launch tariff's rules with every fee zero, as version 2."""
    rules = {
        key: replace(rule, bps=0, fixed_minor=0) for key, rule in launch_schedule().rules.items()
    }
    return FeeSchedule(2, date(2026, 1, 1), rules)


def test_a_fresh_coop_closes_and_its_own_accounts_close_with_it(net: TestNetwork) -> None:
    ksx = net.add_coop("KSX")
    assert close(net, ksx) == "ok"
    assert net.services.registry.coop(ksx.id).status is ParticipantStatus.CLOSED
    assert statuses(net, list(own_accounts(ksx).values())) == [AccountStatus.CLOSED] * 3
    # The network's accounts for the coop's payments are the network's money, not the coop's.
    shares = [ksx.network_fee_account_id, ksx.network_due_account_id]
    assert statuses(net, shares) == [AccountStatus.ACTIVE] * 2


@pytest.mark.parametrize("purpose", ["cash", "fee", "due"])
def test_a_coop_with_a_balance_on_its_own_account_cannot_be_closed_until_it_is_paid_out(
    net: TestNetwork, purpose: str
) -> None:
    ksx, ksy = net.add_coop("KSX"), net.add_coop("KSY")
    account_id = own_accounts(ksx)[purpose]
    move(net, "pay-in", ksy.cash_account_id, account_id, 10)

    assert close(net, ksx) == OPEN_POSITION
    assert net.services.registry.coop(ksx.id).status is ParticipantStatus.ACTIVE
    assert statuses(net, list(own_accounts(ksx).values())) == [AccountStatus.ACTIVE] * 3

    move(net, "pay-out", account_id, ksy.cash_account_id, 10)
    assert close(net, ksx) == "ok"


def test_a_coop_with_a_hold_on_its_cash_cannot_be_closed_until_the_hold_is_released(
    net: TestNetwork,
) -> None:
    ksx, ksy = net.add_coop("KSX"), net.add_coop("KSY")
    ledger = net.services.ledger
    cash, other = ledger.account(ksx.cash_account_id), ledger.account(ksy.cash_account_id)
    ledger.post(transfer("hold", other, cash, idr(10), kind=EntryKind.PENDING, timeout_s=3600))
    assert ledger.account(cash.id).posted_minor == 0

    assert close(net, ksx) == OPEN_POSITION

    ledger.post(
        EntryRequest("release", BUSINESS_DATE, kind=EntryKind.VOID_PENDING, target_id="hold")
    )
    assert close(net, ksx) == "ok"


def test_a_coop_that_served_another_coops_member_at_its_counter_cannot_be_closed(
    net: TestNetwork,
) -> None:
    """The coop keeps the cash it paid out, its share of the fee and what the member's coop
    owes it for the day: closing it would strand all three."""
    counter = a_counter(net, cash_in=100_000)
    net.services.payments.pay(CashOut("withdraw", counter.ani.id, counter.ksx.id, idr(50_000)))
    assert net.balance(counter.ksx.fee_account_id).amount_minor > 0

    assert close(net, counter.ksx) == OPEN_POSITION
    assert net.services.registry.coop(counter.ksx.id).status is ParticipantStatus.ACTIVE


@contextmanager
def a_day_that_nets_to_zero(url: str) -> Iterator[tuple[Counter, date]]:
    """A window (closing in about three seconds) in which, free of fees, another coop's
    member cashes Rp100.000 in at KSX's counter and takes it out again: KSX's accounts are
    back at zero, yet KSX owes KSY the deposit and is owed the withdrawal."""
    with network_on(url, cutoff_s=cutoff_in(3)) as net:
        net.services.payments.publish_schedule(free_of_fees())
        counter = a_counter(net)
        payments = net.services.payments
        records = [
            payments.pay(CashIn("deposit", counter.ani.id, counter.ksx.id, idr(100_000))),
            payments.pay(CashOut("withdraw", counter.ani.id, counter.ksx.id, idr(100_000))),
        ]
        window_date = records[0].business_date
        assert {r.business_date for r in records} == {window_date}, "the day outran its window"
        yield counter, window_date


def test_a_coop_owed_and_owing_in_a_window_not_yet_settled_cannot_be_closed_until_it_settles(
    db_url: str,
) -> None:
    with a_day_that_nets_to_zero(db_url) as (counter, window_date):
        net, ksx = counter.net, counter.ksx
        ledger, settlement = net.services.ledger, net.services.settlement
        books = [ledger.account(i) for i in own_accounts(ksx).values()]
        assert all(
            (a.posted_minor, a.pending_debit_minor, a.pending_credit_minor) == (0, 0, 0)
            for a in books
        )
        open_window = close(net, ksx)

        wait_for_cutoff(net, window_date)
        assert settlement.close(window_date, actor="night-job").recompute_ok is True
        closed_window = close(net, ksx)

        assert settlement.start(window_date, actor="ops") == []
        assert settlement.summary(window_date).status is WindowStatus.SETTLED
        # A registry that is not told which windows are settled counts none as settled.
        unwired = Registry(net.services.engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
        unknowing = outcome_of(lambda: unwired.set_coop_status(ksx.id, "closed"))

        assert (open_window, closed_window, unknowing) == (OPEN_POSITION,) * 3
        assert close(net, ksx) == "ok"


def test_nothing_reaches_a_closed_coops_accounts(net: TestNetwork) -> None:
    counter = a_counter(net, cash_in=100_000)
    ksx, ani = counter.ksx, counter.ani
    assert close(net, ksx) == "ok"
    payments = net.services.payments

    deposit = payments.submit(CashIn("deposit", ani.id, ksx.id, idr(10_000)))
    withdrawal = payments.submit(CashOut("withdraw", ani.id, ksx.id, idr(10_000)))
    with pytest.raises(LedgerError) as direct:
        move(net, "direct", counter.ksy.cash_account_id, ksx.cash_account_id, 1)

    assert deposit.code is withdrawal.code is PaymentErrorCode.COOP_NOT_ACTIVE
    assert direct.value.code is LedgerErrorCode.ACCOUNT_CLOSED
    assert all(net.balance(i).amount_minor == 0 for i in own_accounts(ksx).values())


# Races (PostgreSQL: SQLite's single writer serialises them).


def locks_the_coop(statement: str) -> bool:
    return "FROM interchange_coop" in statement and statement.endswith("UPDATE")


def writes_the_coop_status(statement: str) -> bool:
    return statement.startswith("UPDATE interchange_coop")


@pytest.mark.postgres
def test_a_close_waits_for_a_payment_that_read_the_coop_active_and_sees_its_money(
    pg_url: str,
) -> None:
    """The payment has read the coop active (its batch share-locks the coop's row) and
    waits on the counter's cash account, which a plain session holds: the close waits for
    the payment to commit, then sees the money it left at the counter and refuses."""
    with network_on(pg_url) as net:
        counter = a_counter(net)
        deposit = CashIn("deposit", counter.ani.id, counter.ksx.id, idr(10_000))
        paid, closed = change_while_a_payment_waits(
            pg_url,
            net.services.engine,
            counter.ksx.cash_account_id,
            lambda: net.services.payments.submit(deposit),
            lambda: close(net, counter.ksx),
        )
        assert paid.ok, paid
        assert closed == OPEN_POSITION
        assert net.services.registry.coop(counter.ksx.id).status is ParticipantStatus.ACTIVE


@pytest.mark.postgres
def test_a_payment_that_reaches_the_counter_while_the_coop_closes_is_refused(
    pg_url: str,
) -> None:
    """The payment starts once the close has checked the coop's books and waits for the
    close to commit: it must find the coop closed (its batch reads the coop's status under
    a share lock, after the close), not land in a closed coop."""
    with network_on(pg_url) as net:
        counter = a_counter(net)
        deposit = CashIn("deposit", counter.ani.id, counter.ksx.id, idr(10_000))
        with blocked_rival(
            net.services.engine,
            writes_the_coop_status,
            lambda: net.services.payments.submit(deposit),
        ) as rival:
            outcome = close(net, counter.ksx)
        refused = rival[0].result(timeout=60)
        assert outcome == "ok"
        assert refused.code is PaymentErrorCode.COOP_NOT_ACTIVE
        assert all(net.balance(i).amount_minor == 0 for i in own_accounts(counter.ksx).values())


@pytest.mark.postgres
def test_a_payment_that_reaches_a_member_closing_is_refused(pg_url: str) -> None:
    """The member's close holds its wallet's lock until it commits: a cash-in arriving
    meanwhile waits and then finds the wallet closed, not money in a closed member's
    wallet."""
    with network_on(pg_url) as net:
        counter = a_counter(net)
        deposit = CashIn("deposit", counter.ani.id, counter.ksx.id, idr(10_000))
        registry = net.services.registry

        def writes_the_member_status(statement: str) -> bool:
            return statement.startswith("UPDATE interchange_member")

        with blocked_rival(
            net.services.engine,
            writes_the_member_status,
            lambda: net.services.payments.submit(deposit),
        ) as rival:
            closed = registry.set_member_status(counter.ani.id, "closed")
        refused = rival[0].result(timeout=60)
        assert closed.status is ParticipantStatus.CLOSED
        assert refused.code is PaymentErrorCode.ACCOUNT_CLOSED
        assert net.balance(counter.ani.wallet_account_id).amount_minor == 0


def test_the_network_operator_cannot_close_while_another_coop_is_open(net: TestNetwork) -> None:
    """Every payment's network fee and every settlement pass through the operator's
    accounts: closed under an open coop, it would leave that coop's members unable to pay
    (`account_closed`) and its windows unable to settle. It closes last."""
    counter = a_counter(net)
    operator = net.network

    assert close(net, operator) == "code:coop_not_empty"
    assert net.services.registry.coop(operator.id).status is ParticipantStatus.ACTIVE
    assert statuses(net, list(own_accounts(operator).values())) == [AccountStatus.ACTIVE] * 3
    deposit = CashIn("deposit", counter.ani.id, counter.ksx.id, idr(10_000))
    assert net.services.payments.submit(deposit).code is None

    for coop in (counter.ksx, counter.ksy):
        net.services.registry.set_coop_status(coop.id, "suspended")
    assert close(net, operator) == "code:coop_not_empty"


def test_no_coop_joins_a_closed_network_operator(net: TestNetwork) -> None:
    """Its fees would go to accounts opened under a closed operator, and its windows could
    not settle through the operator's closed settlement account."""
    assert close(net, net.network) == "ok"

    joining = outcome_of(lambda: net.add_coop("KSZ"))

    assert joining == "code:coop_not_active"
    assert [c.code for c in net.coops] == []
