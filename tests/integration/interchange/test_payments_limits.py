"""Limits and statuses on both engines: each refusal has its code and changes nothing.

Per payment at most Rp10.000.000; a basic member may hold at most Rp2.000.000 and send at
most Rp2.000.000 a day (what they pay, fees included); the wallet cannot go below zero; a
payment may not take a cooperative's due balance past its net debit cap; suspended members,
merchants and cooperatives, and frozen wallets, take part in no payment. Amounts in sen.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from interchange import batch_loading, payment_batch, tables
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentOutcome,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.qr import FeeRule, MerchantQrSpec, TipIndicator, encode_merchant_qr
from ledger.account import AccountStatus
from ledger.money import Money
from tests.integration.interchange.test_payments_books import World, pay, refuse
from tests.network import idr, qr_for

SERVICE_FEE = 250_000


def sen(amount_minor: int) -> Money:
    return Money(amount_minor, "IDR")


def top_up(w: World, payment_id: str, member_id: int, rupiah: int) -> None:
    w.net.services.payments.pay(CashIn(payment_id, member_id, w.ksa.id, idr(rupiah)))


def daily_spent(w: World, member_id: int) -> int:
    daily = tables.member_daily
    with w.net.services.engine.connect() as conn:
        spent = conn.execute(
            select(daily.c.spent_minor).where(daily.c.member_id == member_id)
        ).scalar_one_or_none()
    return int(spent or 0)


# The per-payment maximum


@pytest.mark.parametrize(
    "kind", ["static_qr", "dynamic_qr", "transfer", "cash_in", "cash_out", "authorize"]
)
def test_a_payment_over_ten_million_rupiah_is_refused(w: World, kind: str) -> None:
    over = idr(10_000_000) + sen(1)
    commands: dict[str, PaymentCommand] = {
        "static_qr": QrPurchase("big", w.ani.id, qr_for(w.toko), over),
        "dynamic_qr": QrPurchase("big", w.ani.id, qr_for(w.toko, over)),
        "transfer": Transfer("big", w.ani.id, w.budi.id, over),
        "cash_in": CashIn("big", w.ani.id, w.ksb.id, over),
        "cash_out": CashOut("big", w.ani.id, w.ksb.id, over),
        "authorize": Authorize("big", w.ani.id, qr_for(w.toko), over),
    }
    refuse(w.net, commands[kind], "amount_over_limit")


def test_a_payment_of_exactly_ten_million_rupiah_is_accepted(w: World) -> None:
    top_up(w, "top", w.ani.id, 6_000_000)
    _, deltas = pay(w.net, QrPurchase("max", w.ani.id, qr_for(w.toko), idr(10_000_000)))
    assert deltas[w.ani.wallet_account_id] == -1_000_000_000


def test_a_tip_that_takes_the_total_over_ten_million_rupiah_is_refused(w: World) -> None:
    top_up(w, "top", w.ani.id, 6_000_000)
    payload = encode_merchant_qr(
        MerchantQrSpec(
            merchant_network_id=w.toko.network_merchant_id,
            merchant_name=w.toko.name,
            merchant_city=w.toko.city,
            mcc=w.toko.mcc,
            criteria=w.toko.criteria,
            fee_rule=FeeRule(TipIndicator.PAYER_ENTERS_TIP),
        )
    )
    command = QrPurchase("big", w.ani.id, payload, idr(9_999_999), idr(1) + sen(1))
    refuse(w.net, command, "amount_over_limit")


# Daily outgoing limit of a basic member


def test_a_basic_member_may_send_exactly_two_million_rupiah_a_day_fees_included(
    w: World,
) -> None:
    citra = w.citra.id
    pay(w.net, QrPurchase("d-1", citra, qr_for(w.toko), idr(900_000)))
    top_up(w, "d-top-1", citra, 1_002_000)  # cash-in does not count against the limit
    assert daily_spent(w, citra) == 90_000_000
    assert w.net.balance(w.citra.wallet_account_id) == idr(1_100_000)
    # Rp1.097.500 plus the Rp2.500 fee brings the day to exactly Rp2.000.000.
    pay(w.net, Transfer("d-2", citra, w.budi.id, idr(1_097_500)))
    assert daily_spent(w, citra) == 200_000_000
    top_up(w, "d-top-2", citra, 1_000_000)
    refuse(w.net, QrPurchase("d-3", citra, qr_for(w.toko), sen(1)), "daily_limit_exceeded")
    assert daily_spent(w, citra) == 200_000_000


def test_a_single_payment_over_the_daily_limit_is_refused_even_with_funds(w: World) -> None:
    citra = w.citra.id
    pay(w.net, QrPurchase("d-1", citra, qr_for(w.toko), idr(600_000)))
    top_up(w, "d-top", citra, 1_600_000)
    assert w.net.balance(w.citra.wallet_account_id) == idr(1_998_000)
    refuse(w.net, QrPurchase("d-2", citra, qr_for(w.toko), idr(1_400_001)), "daily_limit_exceeded")


def test_a_refused_payment_does_not_use_up_the_daily_limit(w: World) -> None:
    citra = w.citra.id
    refuse(w.net, QrPurchase("d-1", citra, qr_for(w.toko), idr(999_001)), "insufficient_funds")
    assert daily_spent(w, citra) == 0


def test_a_payment_the_ledger_refuses_does_not_use_up_the_daily_limit_of_its_batch(
    w: World,
) -> None:
    citra = w.citra.id  # Rp999.000 in the wallet, nothing sent today
    outcomes = w.net.services.payments.submit_batch(
        [
            QrPurchase("d-1", citra, qr_for(w.toko), idr(1_500_000)),
            QrPurchase("d-2", citra, qr_for(w.toko), idr(600_000)),
        ]
    )
    assert [o.code for o in outcomes] == ["insufficient_funds", None]


def test_a_second_chance_in_a_batch_posts_after_what_the_first_pass_posted(w: World) -> None:
    """d-2 is over Citra's daily limit until the ledger refuses d-1; it is then planned in
    a second pass, which must see the balances d-0 left at Toko's and the coops' accounts."""
    citra = w.citra.id  # Rp999.000 in the wallet, nothing sent today
    toko_wallet = w.toko.wallet_account_id
    outcomes = w.net.services.payments.submit_batch(
        [
            QrPurchase("d-0", w.ani.id, qr_for(w.toko), idr(100_000)),
            QrPurchase("d-1", citra, qr_for(w.toko), idr(1_500_000)),
            QrPurchase("d-2", citra, qr_for(w.toko), idr(600_000)),
        ]
    )
    assert [o.code for o in outcomes] == [None, "insufficient_funds", None]
    assert w.net.services.ledger.account(toko_wallet).posting_count == 2
    ledger = w.net.services.ledger
    ledger.seal()
    report = ledger.verify()
    assert report.intact, report.findings


def test_a_day_begun_in_two_transactions_at_once_stays_within_the_daily_limit(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Citra has sent nothing today, so she has no daily total yet. One batch loads that,
    and is held there while another pays Rp1.000.000 and Citra cashes in again. The
    first batch then pays Rp1.100.000: one of the two payments must be refused, whichever
    waits for the other, or the day's total would pass Rp2.000.000. (A daily total that
    did not exist when a batch loaded used to lock nothing, and the batch counted it as
    zero.)"""
    citra = w.citra.id
    top_up(w, "d-top-0", citra, 1_000_000)  # Rp1.999.000 in the wallet
    loaded, go = threading.Event(), threading.Event()
    load_named = batch_loading.load_named

    def load_then_wait(*args: Any, **kwargs: Any) -> Any:
        load = load_named(*args, **kwargs)
        if threading.current_thread().name == "held":
            loaded.set()
            assert go.wait(timeout=30)
        return load

    monkeypatch.setattr(payment_batch, "load_named", load_then_wait)
    payments = w.net.services.payments
    held: list[PaymentOutcome] = []
    other: list[PaymentOutcome] = []
    first = threading.Thread(
        name="held",
        target=lambda: held.extend(
            payments.submit_batch([QrPurchase("d-held", citra, qr_for(w.toko), idr(1_100_000))])
        ),
    )

    def pay_then_top_up() -> None:
        other.append(payments.submit(QrPurchase("d-other", citra, qr_for(w.toko), idr(1_000_000))))
        top_up(w, "d-top-1", citra, 1_000_000)

    second = threading.Thread(target=pay_then_top_up)
    first.start()
    assert loaded.wait(timeout=30)
    second.start()
    second.join(timeout=2)  # it finishes only if the held batch did not make it wait
    go.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert not first.is_alive() and not second.is_alive()

    codes = sorted([o.code or "ok" for o in held + other])
    assert codes == ["daily_limit_exceeded", "ok"]
    assert daily_spent(w, citra) <= 200_000_000


# Wallet balances


def test_a_payment_of_the_whole_balance_empties_the_wallet(w: World) -> None:
    pay(w.net, QrPurchase("p-1", w.citra.id, qr_for(w.toko), idr(999_000)))
    assert w.net.balance(w.citra.wallet_account_id) == idr(0)


def test_a_payment_of_one_sen_more_than_the_balance_is_refused(w: World) -> None:
    command = QrPurchase("p-1", w.citra.id, qr_for(w.toko), idr(999_000) + sen(1))
    refuse(w.net, command, "insufficient_funds")


def test_held_funds_cannot_be_spent_twice(w: World) -> None:
    pay(w.net, Authorize("a-1", w.citra.id, qr_for(w.toko), idr(900_000)))
    refuse(w.net, QrPurchase("p-1", w.citra.id, qr_for(w.toko), idr(99_001)), "insufficient_funds")
    pay(w.net, QrPurchase("p-2", w.citra.id, qr_for(w.toko), idr(99_000)))


def test_a_basic_wallet_may_be_filled_to_exactly_two_million_rupiah(w: World) -> None:
    pay(w.net, Transfer("t-1", w.ani.id, w.citra.id, idr(1_001_000)))
    assert w.net.balance(w.citra.wallet_account_id) == idr(2_000_000)


def test_a_transfer_that_would_take_a_basic_wallet_over_two_million_rupiah_is_refused(
    w: World,
) -> None:
    command = Transfer("t-1", w.ani.id, w.citra.id, idr(1_001_000) + sen(1))
    refuse(w.net, command, "payee_balance_limit_exceeded")


def test_a_cash_in_that_would_take_a_basic_wallet_over_two_million_rupiah_is_refused(
    w: World,
) -> None:
    command = CashIn("c-1", w.citra.id, w.ksb.id, idr(1_002_000) + sen(1))
    refuse(w.net, command, "payee_balance_limit_exceeded")


def test_a_refund_that_would_take_a_basic_wallet_over_two_million_rupiah_is_refused(
    w: World,
) -> None:
    pay(w.net, QrPurchase("p-1", w.citra.id, qr_for(w.toko), idr(10_000)))
    pay(w.net, Transfer("t-1", w.ani.id, w.citra.id, idr(1_011_000)))
    refuse(w.net, Refund("r-1", "p-1", sen(1)), "payee_balance_limit_exceeded")


# Net debit cap


def test_a_cooperative_cannot_owe_more_than_its_net_debit_cap(w: World) -> None:
    kcl = w.net.add_coop("KCL", cap_rupiah=50_000)
    dina = w.net.add_member("dina", kcl, cash_in=1_000_000)
    due = w.net.services.ledger.account(kcl.due_account_id)
    # The cap bounds payments (a ceiling of their entries), not the account.
    assert due.max_balance_minor is None
    # A transfer out raises the due balance by the amount plus the fee less KCL's share:
    # amount + Rp2.500 - Rp1.250.
    headroom = 5_000_000 - due.posted_minor - 125_000
    refuse(w.net, Transfer("t-1", dina.id, w.budi.id, sen(headroom + 1)), "net_debit_cap_exceeded")
    assert w.net.balance(kcl.due_account_id).amount_minor == due.posted_minor
    pay(w.net, Transfer("t-2", dina.id, w.budi.id, sen(headroom)))
    assert w.net.balance(kcl.due_account_id).amount_minor == 5_000_000


def test_a_cooperative_at_its_cap_still_receives_payments(w: World) -> None:
    kcl = w.net.add_coop("KCL", cap_rupiah=50_000)
    dina = w.net.add_member("dina", kcl, cash_in=1_000_000)
    headroom = 5_000_000 - w.net.balance(kcl.due_account_id).amount_minor - 125_000
    pay(w.net, Transfer("t-1", dina.id, w.budi.id, sen(headroom)))
    _, deltas = pay(w.net, Transfer("t-2", w.budi.id, dina.id, idr(10_000)))
    assert deltas[kcl.due_account_id] == -(1_000_000 + 75_000)


# Statuses


def test_a_suspended_member_cannot_pay(w: World) -> None:
    w.net.services.registry.set_member_status(w.ani.id, "suspended")
    refuse(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1)), "member_not_active")


def test_a_suspended_member_cannot_be_paid(w: World) -> None:
    w.net.services.registry.set_member_status(w.budi.id, "suspended")
    refuse(w.net, Transfer("t-1", w.ani.id, w.budi.id, idr(1)), "member_not_active")


def test_a_suspended_member_cannot_cash_in(w: World) -> None:
    w.net.services.registry.set_member_status(w.ani.id, "suspended")
    refuse(w.net, CashIn("c-1", w.ani.id, w.ksa.id, idr(10_000)), "member_not_active")


def test_a_member_paying_again_after_reactivation_succeeds(w: World) -> None:
    registry = w.net.services.registry
    registry.set_member_status(w.ani.id, "suspended")
    refuse(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1)), "member_not_active")
    registry.set_member_status(w.ani.id, "active")
    pay(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1)))


def test_a_suspended_merchant_cannot_be_paid(w: World) -> None:
    w.net.services.registry.set_merchant_status(w.toko.id, "suspended")
    refuse(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1)), "merchant_not_active")


@pytest.mark.parametrize("kind", ["payer", "merchant", "payee", "counter"])
def test_nobody_pays_into_or_out_of_a_suspended_cooperative(w: World, kind: str) -> None:
    w.net.services.registry.set_coop_status(w.ksb.id, "suspended")
    commands: dict[str, PaymentCommand] = {
        "payer": QrPurchase("p-1", w.budi.id, qr_for(w.warung), idr(1)),
        "merchant": QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1)),
        "payee": Transfer("p-1", w.ani.id, w.budi.id, idr(1)),
        "counter": CashOut("p-1", w.ani.id, w.ksb.id, idr(10_000)),
    }
    refuse(w.net, commands[kind], "coop_not_active")


@pytest.mark.parametrize("kind", ["on_us", "off_us", "transfer", "cash_in", "capture"])
def test_nothing_moves_while_the_network_operator_is_suspended(w: World, kind: str) -> None:
    """Every network fee and settlement passes through the operator's accounts: while it
    is suspended no payment moves money (`coop_not_active`), on-us or off-us, nothing is
    posted, and once it is active again the same command goes through. A void only gives
    a hold back, and still does."""
    pay(w.net, Authorize("auth-1", w.ani.id, qr_for(w.toko), idr(40_000)))
    pay(w.net, Authorize("auth-2", w.ani.id, qr_for(w.toko), idr(40_000)))
    commands: dict[str, PaymentCommand] = {
        "on_us": QrPurchase("p-1", w.ani.id, qr_for(w.warung), idr(1_000)),
        "off_us": QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1_000)),
        "transfer": Transfer("p-1", w.ani.id, w.budi.id, idr(1_000)),
        "cash_in": CashIn("p-1", w.budi.id, w.ksa.id, idr(10_000)),
        "capture": Capture("p-1", "auth-1"),
    }
    registry = w.net.services.registry
    registry.set_coop_status(w.network.id, "suspended")
    refuse(w.net, commands[kind], "coop_not_active")
    pay(w.net, Void("v-1", "auth-2"))
    registry.set_coop_status(w.network.id, "active")
    pay(w.net, commands[kind])


def test_a_full_capture_into_a_suspended_cooperative_is_refused_like_one_for_less(
    w: World,
) -> None:
    """Nobody pays into or out of a suspended cooperative (`coop_not_active`): a capture in
    full is refused like one for less, posting nothing and adding no obligation."""
    pay(w.net, Authorize("auth-1", w.ani.id, qr_for(w.toko), idr(40_000)))
    pay(w.net, Authorize("auth-2", w.ani.id, qr_for(w.toko), idr(40_000)))
    w.net.services.registry.set_coop_status(w.ksb.id, "suspended")
    less = w.net.services.payments.submit(Capture("cap-1", "auth-1", idr(30_000)))
    full = w.net.services.payments.submit(Capture("cap-2", "auth-2"))
    assert (less.code, full.code) == ("coop_not_active", "coop_not_active")


def test_a_frozen_wallet_cannot_pay_even_if_its_member_is_active(w: World) -> None:
    w.net.services.ledger.set_account_status(w.ani.wallet_account_id, AccountStatus.FROZEN)
    refuse(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1)), "account_frozen")


def test_a_frozen_wallet_cannot_be_paid(w: World) -> None:
    w.net.services.ledger.set_account_status(w.budi.wallet_account_id, AccountStatus.FROZEN)
    refuse(w.net, Transfer("t-1", w.ani.id, w.budi.id, idr(1)), "account_frozen")


def test_a_merchant_with_a_frozen_wallet_cannot_refund(w: World) -> None:
    pay(w.net, QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(1_000)))
    w.net.services.ledger.set_account_status(w.toko.wallet_account_id, AccountStatus.FROZEN)
    refuse(w.net, Refund("r-1", "p-1", idr(1_000)), "account_frozen")
