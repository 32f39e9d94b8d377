"""Cash in and out at any cooperative's counter, and transfers between members, on both engines.

Launch tariff: cash-in costs Rp1.000, deducted from the deposit; cash-out and transfers
cost Rp2.500, added to what the member pays; split 50% issuer (the member's cooperative) /
30% acquirer (the counter, or the payee's cooperative) / 20% network. Amounts in sen.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interchange.fee_schedule import FeeError, FeeErrorCode, MerchantCriteria, PaymentType
from interchange.payment_model import (
    CashIn,
    CashOut,
    PaymentError,
    PaymentErrorCode,
    PaymentKind,
    Transfer,
)
from ledger.money import Money
from tests.integration.interchange.test_payments_books import World, pay, refuse
from tests.network import TestNetwork, idr
from tests.outcomes import outcome_of

CASH_IN_FEE = 100_000
SERVICE_FEE = 250_000


# Cash in


def test_cash_in_at_another_cooperatives_counter_credits_the_deposit_less_the_fee(
    w: World,
) -> None:
    record, deltas = pay(w.net, CashIn("ci-1", w.budi.id, w.ksa.id, idr(250_000)))
    assert (record.kind, record.issuer_coop_id, record.acquirer_coop_id) == (
        PaymentKind.CASH_IN,
        w.ksb.id,
        w.ksa.id,
    )
    assert (record.fee.amount_minor, record.fee_bearer) == (CASH_IN_FEE, "payer")
    assert (record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        idr(500),
        idr(300),
        idr(200),
    )
    assert deltas == {
        w.ksa.cash_account_id: -25_000_000,
        w.ksa.fee_account_id: 30_000,
        w.ksa.due_account_id: 25_000_000 - 30_000,
        w.budi.wallet_account_id: 25_000_000 - CASH_IN_FEE,
        w.ksb.fee_account_id: 50_000,
        w.ksb.due_account_id: -(25_000_000 - CASH_IN_FEE + 50_000),
        w.ksa.network_fee_account_id: 20_000,
        w.ksa.network_due_account_id: -20_000,
    }


def test_cash_in_at_the_members_own_counter_owes_only_the_networks_share(w: World) -> None:
    _, deltas = pay(w.net, CashIn("ci-1", w.ani.id, w.ksa.id, idr(10_000)))
    assert deltas == {
        w.ksa.cash_account_id: -1_000_000,
        w.ani.wallet_account_id: 1_000_000 - CASH_IN_FEE,
        w.ksa.fee_account_id: 80_000,
        w.ksa.due_account_id: 20_000,
        w.ksa.network_fee_account_id: 20_000,
        w.ksa.network_due_account_id: -20_000,
    }


def test_cash_in_that_only_covers_the_fee_is_refused(w: World) -> None:
    refuse(w.net, CashIn("ci-1", w.ani.id, w.ksb.id, idr(1_000)), "amount_below_fee")


def test_cash_in_one_sen_above_the_fee_credits_one_sen(w: World) -> None:
    _, deltas = pay(w.net, CashIn("ci-1", w.ani.id, w.ksb.id, Money(CASH_IN_FEE + 1, "IDR")))
    assert deltas[w.ani.wallet_account_id] == 1


def test_cash_in_at_an_unknown_counter_is_refused(w: World) -> None:
    refuse(w.net, CashIn("ci-1", w.ani.id, 999_999, idr(10_000)), "coop_not_found")


def test_cash_in_for_an_unknown_member_is_refused(w: World) -> None:
    refuse(w.net, CashIn("ci-1", 999_999, w.ksa.id, idr(10_000)), "member_not_found")


# Cash out


def test_cash_out_at_another_cooperatives_counter_charges_the_amount_plus_the_fee(
    w: World,
) -> None:
    record, deltas = pay(w.net, CashOut("co-1", w.ani.id, w.ksb.id, idr(100_000)))
    assert (record.kind, record.issuer_coop_id, record.acquirer_coop_id) == (
        PaymentKind.CASH_OUT,
        w.ksa.id,
        w.ksb.id,
    )
    assert (record.issuer_fee, record.acquirer_fee, record.network_fee) == (
        idr(1_250),
        idr(750),
        idr(500),
    )
    assert deltas == {
        w.ani.wallet_account_id: -(10_000_000 + SERVICE_FEE),
        w.ksa.fee_account_id: 125_000,
        w.ksa.due_account_id: 10_000_000 + SERVICE_FEE - 125_000,
        w.ksb.cash_account_id: 10_000_000,
        w.ksb.fee_account_id: 75_000,
        w.ksb.due_account_id: -(10_000_000 + 75_000),
        w.ksa.network_fee_account_id: 50_000,
        w.ksa.network_due_account_id: -50_000,
    }


def test_cash_out_of_the_whole_balance_less_the_fee_empties_the_wallet(w: World) -> None:
    # Citra holds Rp999.000: Rp996.500 plus the Rp2.500 fee is all of it.
    _, deltas = pay(w.net, CashOut("co-1", w.citra.id, w.ksb.id, idr(996_500)))
    assert deltas[w.citra.wallet_account_id] == -99_900_000
    assert w.net.balance(w.citra.wallet_account_id) == idr(0)


def test_cash_out_of_the_whole_balance_is_refused_because_of_the_fee(w: World) -> None:
    refuse(w.net, CashOut("co-1", w.citra.id, w.ksb.id, idr(999_000)), "insufficient_funds")


def test_cash_out_at_an_unknown_counter_is_refused(w: World) -> None:
    refuse(w.net, CashOut("co-1", w.ani.id, 999_999, idr(10_000)), "coop_not_found")


# Transfers


def test_a_transfer_across_cooperatives_charges_the_payer_the_fee(w: World) -> None:
    record, deltas = pay(w.net, Transfer("tr-1", w.ani.id, w.budi.id, idr(75_000)))
    assert (record.kind, record.is_off_us, record.fee_bearer) == (
        PaymentKind.TRANSFER,
        True,
        "payer",
    )
    assert (record.amount, record.fee) == (idr(75_000), idr(2_500))
    assert deltas == {
        w.ani.wallet_account_id: -(7_500_000 + SERVICE_FEE),
        w.ksa.fee_account_id: 125_000,
        w.ksa.due_account_id: 7_500_000 + SERVICE_FEE - 125_000,
        w.budi.wallet_account_id: 7_500_000,
        w.ksb.fee_account_id: 75_000,
        w.ksb.due_account_id: -(7_500_000 + 75_000),
        w.ksa.network_fee_account_id: 50_000,
        w.ksa.network_due_account_id: -50_000,
    }


def test_a_transfer_within_one_cooperative_sums_its_legs_per_account(w: World) -> None:
    _, deltas = pay(w.net, Transfer("tr-1", w.ani.id, w.citra.id, idr(75_000)))
    assert deltas == {
        w.ani.wallet_account_id: -(7_500_000 + SERVICE_FEE),
        w.citra.wallet_account_id: 7_500_000,
        w.ksa.fee_account_id: 125_000 + 75_000,
        w.ksa.due_account_id: 50_000,
        w.ksa.network_fee_account_id: 50_000,
        w.ksa.network_due_account_id: -50_000,
    }


def test_a_transfer_to_the_payers_own_wallet_is_refused(w: World) -> None:
    refuse(w.net, Transfer("tr-1", w.ani.id, w.ani.id, idr(1_000)), "same_wallet")


def test_a_transfer_to_an_unknown_member_is_refused(w: World) -> None:
    refuse(w.net, Transfer("tr-1", w.ani.id, 999_999, idr(1_000)), "member_not_found")


def test_a_transfer_from_an_unknown_member_is_refused(w: World) -> None:
    refuse(w.net, Transfer("tr-1", 999_999, w.ani.id, idr(1_000)), "member_not_found")


def test_a_transfer_that_leaves_nothing_for_the_fee_is_refused(w: World) -> None:
    refuse(w.net, Transfer("tr-1", w.citra.id, w.ani.id, idr(997_000)), "insufficient_funds")


# Quotes


@pytest.mark.parametrize("payment_type", [PaymentType.TRANSFER, PaymentType.CASH_OUT])
def test_a_quote_shows_exactly_what_the_member_then_pays(
    w: World, payment_type: PaymentType
) -> None:
    quote = w.net.services.payments.quote(idr(75_000), payment_type, w.ksa.id, w.ksb.id)
    if payment_type is PaymentType.TRANSFER:
        record, deltas = pay(w.net, Transfer("q-1", w.ani.id, w.budi.id, idr(75_000)))
        assert deltas[w.budi.wallet_account_id] == quote.payee_receives.amount_minor
    else:
        record, deltas = pay(w.net, CashOut("q-1", w.ani.id, w.ksb.id, idr(75_000)))
        assert deltas[w.ksb.cash_account_id] == quote.payee_receives.amount_minor
    assert quote.payer_pays == quote.payee_receives + quote.fee
    assert (quote.fee, quote.shares.issuer, quote.shares.acquirer, quote.shares.network) == (
        record.fee,
        record.issuer_fee,
        record.acquirer_fee,
        record.network_fee,
    )
    assert deltas[w.ani.wallet_account_id] == -quote.payer_pays.amount_minor


def test_a_cash_in_quote_has_the_fee_and_shares_the_deposit_then_carries(w: World) -> None:
    quote = w.net.services.payments.quote(idr(50_000), PaymentType.CASH_IN, w.ksa.id, w.ksb.id)
    record, _ = pay(w.net, CashIn("q-1", w.ani.id, w.ksb.id, idr(50_000)))
    assert (quote.fee, quote.shares.issuer, quote.shares.acquirer, quote.shares.network) == (
        record.fee,
        record.issuer_fee,
        record.acquirer_fee,
        record.network_fee,
    )


def test_a_cash_in_quote_shows_what_the_member_hands_over_and_what_reaches_the_wallet(
    w: World,
) -> None:
    quote = w.net.services.payments.quote(idr(50_000), PaymentType.CASH_IN, w.ksa.id, w.ksb.id)
    _, deltas = pay(w.net, CashIn("q-1", w.ani.id, w.ksb.id, idr(50_000)))
    assert -deltas[w.ksb.cash_account_id] == quote.payer_pays.amount_minor
    assert deltas[w.ani.wallet_account_id] == quote.payee_receives.amount_minor


@pytest.mark.parametrize("rupiah", [1, 999, 1_000])
def test_a_cash_in_quote_never_promises_a_deposit_that_does_not_cover_the_fee(
    sqlite_net: TestNetwork, rupiah: int
) -> None:
    """A quote shows what confirming will do: a cash-in of Rp1 to Rp1.000 (the fee is
    Rp1.000) is refused with `amount_below_fee`, so its quote is refused with a code too,
    never quoted as a success in which the wallet receives `amount - fee` (zero or
    negative: Rp1 would give -Rp999)."""
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


def test_a_quote_takes_a_payment_type_by_its_text_and_prices_and_shapes_it_as_that_type(
    w: World,
) -> None:
    payments = w.net.services.payments
    by_text = payments.quote(idr(50_000), "cash_in", w.ksa.id, w.ksb.id)  # type: ignore[arg-type]
    assert by_text == payments.quote(idr(50_000), PaymentType.CASH_IN, w.ksa.id, w.ksb.id)


@pytest.mark.parametrize("payment_type", ["refund", "CASH_IN", "", None, 1])
def test_a_quote_for_a_payment_type_the_schedules_do_not_know_is_refused_by_name(
    w: World, payment_type: object
) -> None:
    with pytest.raises(FeeError) as refused:
        w.net.services.payments.quote(idr(50_000), payment_type, w.ksa.id, w.ksb.id)  # type: ignore[arg-type]
    assert (refused.value.code, refused.value.field) == (
        FeeErrorCode.FEE_PAYMENT_TYPE_INVALID,
        "payment_type",
    )


def test_a_quote_for_a_business_date_with_a_time_is_refused_by_name(w: World) -> None:
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(FeeError) as refused:
        w.net.services.payments.quote(
            idr(50_000), PaymentType.CASH_OUT, w.ksa.id, w.ksb.id, business_date=moment
        )
    assert (refused.value.code, refused.value.field) == (
        FeeErrorCode.FEE_BUSINESS_DATE_INVALID,
        "business_date",
    )


def test_a_quote_takes_merchant_criteria_by_their_text(w: World) -> None:
    payments = w.net.services.payments
    args = (idr(50_000), PaymentType.QR_PURCHASE, w.ksa.id, w.ksb.id)
    by_text = payments.quote(*args, merchant_criteria="UMI")  # type: ignore[arg-type]
    assert by_text == payments.quote(*args, merchant_criteria=MerchantCriteria.UMI)


@pytest.mark.parametrize("criteria", ["micro", "umi", "", 1])
def test_a_quote_for_merchant_criteria_the_schedules_do_not_know_is_refused_by_name(
    w: World, criteria: object
) -> None:
    with pytest.raises(FeeError) as refused:
        w.net.services.payments.quote(
            idr(50_000),
            PaymentType.QR_PURCHASE,
            w.ksa.id,
            w.ksb.id,
            merchant_criteria=criteria,  # type: ignore[arg-type]
        )
    assert (refused.value.code, refused.value.field) == (
        FeeErrorCode.FEE_CRITERIA_INVALID,
        "merchant_criteria",
    )


@pytest.mark.parametrize("amount", [5_000_000, "50000", None])
def test_a_quote_for_an_amount_that_is_not_money_is_refused_by_name(
    w: World, amount: object
) -> None:
    with pytest.raises(FeeError) as refused:
        w.net.services.payments.quote(amount, PaymentType.CASH_OUT, w.ksa.id, w.ksb.id)  # type: ignore[arg-type]
    assert (refused.value.code, refused.value.field) == (FeeErrorCode.FEE_AMOUNT_INVALID, "amount")
