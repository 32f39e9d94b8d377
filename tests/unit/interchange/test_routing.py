"""Routing, pure: the order of `parse_command`'s checks, and plans over a hand-built context.

`parse_command` checks, first failure winning: the payment id, then amounts (amount before
tip) and their limit, then an authorization's timeout, then the QR payload. `plan_payment`
then checks idempotency against recorded payments, then the parties, then the QR's amount
rules, then the fee. Cooperatives 1 and 2 trade; 9 is the network.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from interchange.errors import InterchangeError
from interchange.fee_defaults import launch_schedule
from interchange.movement import CoopAccounts
from interchange.payment_model import (
    AUTHORIZATION_TIMEOUT_S_MAX,
    TRANSACTION_MAX_MINOR,
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentRecord,
    PaymentStatus,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.qr import (
    FeeRule,
    MerchantCriteria,
    MerchantQrSpec,
    TipIndicator,
    encode_merchant_qr,
)
from interchange.qr.crc import crc_hex
from interchange.qr.tlv import serialize
from interchange.routing import (
    CoopParty,
    DailyRelease,
    MemberParty,
    MerchantParty,
    PaymentPlan,
    RoutingContext,
    parse_command,
    plan_payment,
)
from ledger.money import Money

DAY = date(2026, 11, 23)
NETWORK = CoopParty(CoopAccounts(9, 91, 92, 93, 92, 93), True, "IDR")
COOPS = {
    1: CoopParty(CoopAccounts(1, 11, 12, 13, 912, 913), True, "IDR"),
    2: CoopParty(CoopAccounts(2, 21, 22, 23, 922, 923), True, "IDR"),
    9: NETWORK,
}
ANI = MemberParty(1, 1, True, "verified", 101)
BUDI = MemberParty(2, 2, True, "verified", 201)
TOKO = MerchantParty(7, 2, True, "KN000002S0001", "UKE", 207)
WARUNG = MerchantParty(8, 1, True, "KN000001S0001", "UKE", 108)


def idr(rupiah: int) -> Money:
    return Money(rupiah * 100, "IDR")


def qr(
    merchant: MerchantParty, amount: Money | None = None, fee_rule: FeeRule | None = None
) -> str:
    return encode_merchant_qr(
        MerchantQrSpec(
            merchant_network_id=merchant.network_merchant_id,
            merchant_name="Toko",
            merchant_city="Bandung",
            mcc="5812",
            criteria=MerchantCriteria(merchant.criteria),
            amount=amount,
            fee_rule=fee_rule,
        )
    )


def foreign_qr() -> str:
    account = serialize((("00", "ID.CO.BANKLAIN.WWW"), ("01", "9360001234567890")))
    body = serialize(
        (
            ("00", "01"),
            ("01", "11"),
            ("26", account),
            ("52", "5812"),
            ("53", "360"),
            ("58", "ID"),
            ("59", "Toko Lain"),
            ("60", "Bandung"),
        )
    )
    return body + "6304" + crc_hex(body + "6304")


def damaged(payload: str) -> str:
    return payload[:-4] + ("0000" if payload[-4:] != "0000" else "FFFF")


GARBAGE = "not a QR code"


def context(
    *,
    members: tuple[MemberParty, ...] = (ANI, BUDI),
    merchants: tuple[MerchantParty, ...] = (TOKO, WARUNG),
    payments: tuple[PaymentRecord, ...] = (),
    coops: dict[int, CoopParty] | None = None,
    payers: dict[str, int] | None = None,
) -> RoutingContext:
    return RoutingContext(
        coops=COOPS if coops is None else coops,
        network=NETWORK,
        members={m.member_id: m for m in members},
        merchants={m.network_merchant_id: m for m in merchants},
        payments={p.payment_id: p for p in payments},
        schedules=[launch_schedule()],
        business_date=DAY,
        now=datetime(DAY.year, DAY.month, DAY.day, 3, tzinfo=UTC),
        merchant_criteria={m.merchant_id: m.criteria for m in merchants},
        hold_expires_at={},
        payer_member_ids=payers or {},
    )


def code_of_parse(command: PaymentCommand) -> tuple[str, str | None]:
    with pytest.raises(InterchangeError) as excinfo:
        parse_command(command)
    return str(excinfo.value.code), excinfo.value.field


def code_of_plan(command: PaymentCommand, ctx: RoutingContext) -> str:
    parsed = parse_command(command)
    with pytest.raises(InterchangeError) as excinfo:
        plan_payment(parsed, ctx)
    return str(excinfo.value.code)


def planned(command: PaymentCommand, ctx: RoutingContext | None = None) -> PaymentPlan:
    plan = plan_payment(parse_command(command), ctx or context())
    assert isinstance(plan, PaymentPlan)
    return plan


# parse_command: the order of the checks


def test_a_bad_payment_id_is_reported_before_a_bad_amount_and_a_bad_code() -> None:
    command = QrPurchase("", ANI.member_id, GARBAGE, idr(0), idr(0))
    assert code_of_parse(command) == ("payment_id_invalid", "payment_id")


@pytest.mark.parametrize("payment_id", ["", "-x", "has space", "x" * 57, "ü", "p-1\n", 7])
def test_a_payment_id_must_be_one_to_56_safe_characters(payment_id: Any) -> None:
    command = Transfer(payment_id, ANI.member_id, BUDI.member_id, idr(1))
    assert code_of_parse(command) == ("payment_id_invalid", "payment_id")


def test_a_payment_id_of_56_safe_characters_is_valid() -> None:
    assert parse_command(Transfer("A" + "b.:-_9" * 9 + "z", 1, 2, idr(1))).command.payment_id


def test_a_bad_amount_is_reported_before_a_bad_tip_and_a_bad_code() -> None:
    command = QrPurchase("p-1", ANI.member_id, GARBAGE, idr(0), idr(0))
    assert code_of_parse(command) == ("amount_invalid", "amount")


def test_an_amount_over_the_limit_is_reported_before_a_bad_code() -> None:
    over = Money(TRANSACTION_MAX_MINOR + 1, "IDR")
    assert code_of_parse(QrPurchase("p-1", ANI.member_id, GARBAGE, over)) == (
        "amount_over_limit",
        "amount",
    )


def test_the_limit_itself_is_within_the_limit() -> None:
    parse_command(
        Transfer("p-1", ANI.member_id, BUDI.member_id, Money(TRANSACTION_MAX_MINOR, "IDR"))
    )


def test_a_bad_tip_is_reported_before_a_bad_code() -> None:
    command = QrPurchase("p-1", ANI.member_id, GARBAGE, idr(1), idr(-1))
    assert code_of_parse(command) == ("amount_invalid", "tip")


def test_a_bad_timeout_is_reported_before_a_bad_code() -> None:
    command = Authorize("p-1", ANI.member_id, GARBAGE, idr(1), timeout_s=0)
    assert code_of_parse(command) == ("timeout_invalid", "timeout_s")


@pytest.mark.parametrize("timeout_s", [True, 1.0, AUTHORIZATION_TIMEOUT_S_MAX + 1])
def test_a_timeout_that_is_not_a_whole_number_of_seconds_in_range_is_refused(
    timeout_s: Any,
) -> None:
    command = Authorize("p-1", ANI.member_id, qr(TOKO), idr(1), timeout_s=timeout_s)
    assert code_of_parse(command) == ("timeout_invalid", "timeout_s")


@pytest.mark.parametrize(
    ("payload", "code"),
    [(damaged(qr(TOKO)), "qr_crc_mismatch"), (foreign_qr(), "qr_not_kopnet")],
)
def test_the_code_is_checked_last(payload: str, code: str) -> None:
    assert code_of_parse(QrPurchase("p-1", ANI.member_id, payload, idr(1)))[0] == code


@pytest.mark.parametrize(
    "command",
    [
        Transfer("p-1", 1, 2, None),  # type: ignore[arg-type]
        Transfer("p-1", 1, 2, 100),  # type: ignore[arg-type]
        CashIn("p-1", 1, 1, idr(-1)),
        CashOut("p-1", 1, 1, idr(0)),
        Refund("p-1", "p-0", idr(0)),
        Capture("p-1", "p-0", idr(0)),
    ],
)
def test_every_amount_must_be_positive_money(command: PaymentCommand) -> None:
    assert code_of_parse(command) == ("amount_invalid", "amount")


def test_a_capture_may_leave_out_its_amount_and_a_void_has_none() -> None:
    assert parse_command(Capture("p-1", "p-0")).qr is None
    assert parse_command(Void("p-1", "p-0")).qr is None


def test_a_qr_command_comes_back_with_its_code_decoded() -> None:
    parsed = parse_command(QrPurchase("p-1", ANI.member_id, qr(TOKO, idr(5)), None))
    assert parsed.qr is not None
    assert (parsed.qr.merchant_network_id, parsed.qr.amount) == (TOKO.network_merchant_id, idr(5))


def test_the_canonical_request_tells_commands_apart_by_kind_and_by_every_field() -> None:
    payload = qr(TOKO)
    purchase = parse_command(QrPurchase("p-1", 1, payload, idr(5))).request_json
    assert parse_command(QrPurchase("p-1", 1, payload, idr(5))).request_json == purchase
    assert parse_command(QrPurchase("p-1", 1, payload, idr(6))).request_json != purchase
    assert parse_command(QrPurchase("p-1", 2, payload, idr(5))).request_json != purchase
    assert parse_command(Authorize("p-1", 1, payload, idr(5))).request_json != purchase


# plan_payment: idempotency, then parties, then the QR's amount rules


def record_of(plan: PaymentPlan) -> PaymentRecord:
    draft = {f.name: getattr(plan.draft, f.name) for f in fields(plan.draft)}
    return PaymentRecord(
        payment_id=plan.payment_id,
        refunded=Money.zero("IDR"),
        business_date=DAY,
        window_date=DAY,
        request_json=plan.request_json,
        created_at=datetime(2026, 11, 23, 3, 0, tzinfo=UTC),
        **draft,
    )


def test_a_recorded_identical_command_is_a_replay_even_if_its_parties_changed() -> None:
    command = Transfer("t-1", ANI.member_id, BUDI.member_id, idr(1_000))
    record = record_of(planned(command))
    ctx = context(members=(), payments=(record,))
    assert plan_payment(parse_command(command), ctx) is record


def test_a_recorded_different_command_under_the_same_id_is_a_conflict() -> None:
    record = record_of(planned(Transfer("t-1", ANI.member_id, BUDI.member_id, idr(1_000))))
    command = Transfer("t-1", ANI.member_id, BUDI.member_id, idr(1_001))
    ctx = context(members=(), payments=(record,))
    assert code_of_plan(command, ctx) == "payment_exists_with_different_request"


def test_an_unknown_payer_is_reported_before_an_unknown_merchant() -> None:
    stranger = MerchantParty(99, 2, True, "KN000002S0099", "UKE", 299)
    command = QrPurchase("p-1", 42, qr(stranger))
    assert code_of_plan(command, context()) == "member_not_found"
    assert code_of_plan(QrPurchase("p-1", ANI.member_id, qr(stranger)), context()) == (
        "merchant_not_found"
    )


def test_the_parties_are_checked_before_a_static_code_asks_for_its_amount() -> None:
    inactive = MerchantParty(7, 2, False, "KN000002S0001", "UKE", 207)
    command = QrPurchase("p-1", ANI.member_id, qr(TOKO))
    assert code_of_plan(command, context(merchants=(inactive,))) == "merchant_not_active"
    assert code_of_plan(command, context()) == "qr_amount_required"


def test_an_inactive_payer_is_reported_before_paying_oneself() -> None:
    inactive = MemberParty(1, 1, False, "verified", 101)
    command = Transfer("t-1", ANI.member_id, ANI.member_id, idr(1))
    assert code_of_plan(command, context(members=(inactive,))) == "member_not_active"
    assert code_of_plan(command, context()) == "same_wallet"


def test_a_member_of_an_unknown_cooperative_is_refused() -> None:
    orphan = MemberParty(5, 77, True, "verified", 501)
    command = Transfer("t-1", orphan.member_id, BUDI.member_id, idr(1))
    assert code_of_plan(command, context(members=(orphan, BUDI))) == "coop_not_found"


def test_a_cooperative_settling_another_currency_is_refused() -> None:
    coops = {**COOPS, 2: CoopParty(CoopAccounts(2, 21, 22, 23, 922, 923), True, "USD")}
    command = Transfer("t-1", ANI.member_id, BUDI.member_id, idr(1))
    assert code_of_plan(command, context(coops=coops)) == "currency_not_supported"


# plan_payment: what a plan holds


def test_an_on_us_purchase_plan_balances_and_owes_only_the_network() -> None:
    plan = planned(QrPurchase("p-1", ANI.member_id, qr(WARUNG), idr(10_000)))
    (entry,) = plan.entries
    assert sum(leg.amount.amount_minor for leg in entry.legs) == 0
    assert [(o.debtor_coop_id, o.creditor_coop_id, o.amount_minor) for o in plan.obligations] == [
        (1, 9, 1_400)
    ]
    assert (plan.daily_member_id, plan.daily_minor) == (ANI.member_id, 1_000_000)


def test_a_transfer_counts_the_fee_against_the_daily_limit() -> None:
    plan = planned(Transfer("t-1", ANI.member_id, BUDI.member_id, idr(10_000)))
    assert (plan.daily_member_id, plan.daily_minor) == (ANI.member_id, 1_000_000 + 250_000)


def test_a_cash_in_does_not_count_against_the_daily_limit() -> None:
    plan = planned(CashIn("c-1", ANI.member_id, 2, idr(10_000)))
    assert (plan.daily_member_id, plan.daily_minor) == (None, 0)


def test_an_authorization_plans_a_hold_that_owes_nothing_yet() -> None:
    plan = planned(Authorize("a-1", ANI.member_id, qr(TOKO), idr(10_000), timeout_s=60))
    (entry,) = plan.entries
    assert (entry.kind, entry.timeout_s, plan.obligations) == ("pending", 60, ())


# plan_payment: what a void or a capture gives back of the payer's daily allowance

YESTERDAY = DAY - timedelta(days=1)


def authorized(command: Authorize) -> RoutingContext:
    """A context in which `command` was authorized yesterday, for Ani, and is still open."""
    record = replace(record_of(planned(command)), business_date=YESTERDAY)
    assert record.status is PaymentStatus.AUTHORIZED
    return context(payments=(record,), payers={command.payment_id: ANI.member_id})


def test_a_void_gives_back_all_the_authorization_counted_to_the_day_it_counted_against() -> None:
    ctx = authorized(Authorize("a-1", ANI.member_id, qr(TOKO), idr(10_000), timeout_s=60))
    released = planned(Void("v-1", "a-1"), ctx).released
    assert released == DailyRelease(ANI.member_id, YESTERDAY, 1_000_000)


def test_a_capture_for_less_gives_back_what_it_does_not_take() -> None:
    ctx = authorized(Authorize("a-1", ANI.member_id, qr(TOKO), idr(10_000), timeout_s=60))
    released = planned(Capture("c-1", "a-1", idr(6_000)), ctx).released
    assert released == DailyRelease(ANI.member_id, YESTERDAY, 400_000)


def test_a_capture_in_full_gives_nothing_back() -> None:
    ctx = authorized(Authorize("a-1", ANI.member_id, qr(TOKO), idr(10_000), timeout_s=60))
    assert planned(Capture("c-1", "a-1"), ctx).released is None
    assert planned(Capture("c-1", "a-1", idr(10_000)), ctx).released is None


def test_a_capture_for_less_keeps_the_tip_and_gives_back_only_the_amount_it_leaves() -> None:
    code = qr(TOKO, fee_rule=FeeRule(TipIndicator.PAYER_ENTERS_TIP))
    ctx = authorized(Authorize("a-1", ANI.member_id, code, idr(10_000), idr(500), timeout_s=60))
    released = planned(Capture("c-1", "a-1", idr(6_000)), ctx).released
    assert released == DailyRelease(ANI.member_id, YESTERDAY, 400_000)


def test_a_capture_for_less_gives_back_the_convenience_fee_on_what_it_leaves() -> None:
    """2% on Rp10.000 was held (Rp10.200); 2% on Rp6.000 is taken (Rp6.120)."""
    code = qr(TOKO, fee_rule=FeeRule(TipIndicator.PERCENTAGE_FEE, percentage_bps=200))
    ctx = authorized(Authorize("a-1", ANI.member_id, code, idr(10_000), timeout_s=60))
    released = planned(Capture("c-1", "a-1", idr(6_000)), ctx).released
    assert released == DailyRelease(ANI.member_id, YESTERDAY, 1_020_000 - 612_000)


def test_nothing_but_a_void_or_a_capture_gives_allowance_back() -> None:
    assert planned(QrPurchase("p-1", ANI.member_id, qr(TOKO), idr(10_000))).released is None
    assert planned(Transfer("t-1", ANI.member_id, BUDI.member_id, idr(10_000))).released is None
