"""`Payments.quote_command`: a command's price as its payment then charges it, recording
nothing, and refused with the payment's own code; `Payments.quote` and the limit.

A quote is planned as the payment is, so a code's convenience fee or the payer's tip
(tags 55-57) is in it, the parties must be found and active, the network operator
active, and the per-payment limit counts the fee. On both engines.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest

from interchange.fee_schedule import PaymentType
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.qr import FeeRule, TipIndicator
from ledger.money import Money
from tests.integration.interchange.test_payments_books import World, pay, snapshot
from tests.integration.interchange.test_payments_qr import merchant_qr
from tests.network import idr, qr_for
from tests.outcomes import outcome_of


def _charged(w: World, command: PaymentCommand, payer_account_id: int) -> tuple[Money, Money]:
    """What `command` then took from the payer's account, and the fee it carried."""
    record, deltas = pay(w.net, command)
    return Money(-deltas[payer_account_id], "IDR"), record.fee


@pytest.mark.parametrize(
    "rule",
    [
        FeeRule(TipIndicator.PERCENTAGE_FEE, percentage_bps=300),
        FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr(5_000)),
        FeeRule(TipIndicator.PAYER_ENTERS_TIP),
        None,
    ],
    ids=["convenience-percentage", "convenience-fixed", "tip", "plain"],
)
def test_a_quote_of_a_code_shows_what_the_purchase_then_charges(
    w: World, rule: FeeRule | None
) -> None:
    """The quote of a purchase by a code with a convenience fee, a tip or neither is what
    the payer then pays and the fee the purchase then carries; quoting records nothing."""
    payload = merchant_qr(w.toko, fee_rule=rule) if rule else qr_for(w.toko)
    tip = idr(2_500) if rule and rule.indicator is TipIndicator.PAYER_ENTERS_TIP else None
    command = QrPurchase("p-1", w.ani.id, payload, idr(100_000), tip)
    before = snapshot(w.net.services.engine)
    quote = w.net.services.payments.quote_command(command)
    assert snapshot(w.net.services.engine) == before
    assert _charged(w, command, w.ani.wallet_account_id) == (quote.payer_pays, quote.fee)
    assert quote.payer_pays > idr(100_000) or rule is None


@pytest.mark.parametrize("kind", ["transfer", "cash_out", "cash_in", "authorize"])
def test_a_quote_of_any_new_payment_is_what_it_then_charges(w: World, kind: str) -> None:
    payload = merchant_qr(w.toko, fee_rule=FeeRule(TipIndicator.FIXED_FEE, fixed_fee=idr(1_000)))
    commands: dict[str, tuple[PaymentCommand, int]] = {
        "transfer": (Transfer("p-1", w.ani.id, w.budi.id, idr(75_000)), w.ani.wallet_account_id),
        "cash_out": (CashOut("p-1", w.ani.id, w.ksb.id, idr(75_000)), w.ani.wallet_account_id),
        "cash_in": (CashIn("p-1", w.ani.id, w.ksb.id, idr(75_000)), w.ksb.cash_account_id),
        "authorize": (Authorize("p-1", w.ani.id, payload, idr(75_000)), w.ani.wallet_account_id),
    }
    command, payer_account_id = commands[kind]
    quote = w.net.services.payments.quote_command(command)
    record, deltas = pay(w.net, command)
    assert (quote.fee, quote.shares.network) == (record.fee, record.network_fee)
    if kind == "authorize":
        held = w.net.services.ledger.account(payer_account_id).pending
        assert held == -quote.payer_pays
    else:
        assert -deltas[payer_account_id] == quote.payer_pays.amount_minor


def test_a_quote_is_refused_with_the_code_the_payment_would_get(w: World) -> None:
    """Over the per-payment limit with the fee (a transfer of exactly Rp10.000.000), a
    suspended member, a merchant not found, a capture (no price of its own): the quote's
    code is the payment's own, and nothing is recorded."""
    payments = w.net.services.payments
    w.net.services.registry.set_member_status(w.citra.id, "suspended")
    other_id = w.toko.network_merchant_id[:-1] + (
        "0" if w.toko.network_merchant_id[-1] != "0" else "1"
    )
    unknown = merchant_qr(replace(w.toko, network_merchant_id=other_id))
    commands: dict[str, PaymentCommand] = {
        "over-limit": Transfer("q-1", w.ani.id, w.budi.id, idr(10_000_000)),
        "suspended": Transfer("q-2", w.citra.id, w.budi.id, idr(1_000)),
        "unknown-merchant": QrPurchase("q-3", w.ani.id, unknown, idr(1_000)),
        "bad-id": Transfer("q-4", w.ani.id, [w.budi.id], idr(1_000)),  # type: ignore[arg-type]
        "capture": Capture("q-5", "auth-1"),
        "void": Void("q-6", "auth-1"),
        "refund": Refund("q-7", "p-1", idr(1)),
    }
    before = snapshot(w.net.services.engine)
    quoted = {name: outcome_of(partial(payments.quote_command, c)) for name, c in commands.items()}
    assert snapshot(w.net.services.engine) == before
    paid = {name: payments.submit(c).code for name, c in commands.items() if name != "capture"}
    assert quoted == {
        "over-limit": "code:amount_over_limit",
        "suspended": "code:member_not_active",
        "unknown-merchant": "code:merchant_not_found",
        "bad-id": "code:member_not_found",
        "capture": "code:payment_not_quotable",
        "void": "code:payment_not_quotable",
        "refund": "code:payment_not_quotable",
    }
    assert {name: f"code:{code}" for name, code in paid.items()} == {
        name: quoted[name] for name in paid if name not in ("void", "refund")
    } | {"void": "code:authorization_not_found", "refund": "code:original_not_found"}


@pytest.mark.parametrize(
    ("payment_type", "rupiah"),
    [(PaymentType.TRANSFER, 10_000_000), (PaymentType.CASH_OUT, 10_000_000)],
)
def test_a_fee_quote_over_the_per_payment_limit_with_its_fee_is_refused(
    w: World, payment_type: PaymentType, rupiah: int
) -> None:
    """`Payments.quote` refuses what the payment would: Rp10.000.000 plus a payer's fee is
    over the per-payment limit (`amount_over_limit`), and so is an amount over it alone."""
    payments = w.net.services.payments
    with_fee = partial(payments.quote, idr(rupiah), payment_type, w.ksa.id, w.ksb.id)
    alone = partial(payments.quote, idr(rupiah + 1), payment_type, w.ksa.id, w.ksb.id)
    assert outcome_of(with_fee) == "code:amount_over_limit"
    assert outcome_of(alone) == "code:amount_over_limit"
    command = Transfer("t-1", w.ani.id, w.budi.id, idr(rupiah))
    if payment_type is PaymentType.CASH_OUT:
        command = CashOut("t-1", w.ani.id, w.ksb.id, idr(rupiah))  # type: ignore[assignment]
    assert w.net.services.payments.submit(command).code == "amount_over_limit"
