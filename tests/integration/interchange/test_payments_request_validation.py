"""What a caller sends payments, on both engines unless marked, is not found or refused
with a code, never an exception of the driver or of Python.

A member id no row can have (2**63: every id column is a 64-bit integer) is
`member_not_found` on SQLite as on PostgreSQL. A payment id no payment can have (ids match
`PAYMENT_ID_PATTERN`: a NUL, a lone surrogate or 500 characters cannot) is not found
whether it is looked up or named as the original of a refund, capture or void, and
nothing changes. A command's own invalid `payment_id` is covered in
`test_payments_idempotency.py`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    CashOut,
    PaymentCommand,
    PaymentError,
    PaymentErrorCode,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.payments import BATCH_COMMANDS_MAX
from tests.integration.interchange.test_payments_books import snapshot
from tests.network import ID_BEYOND_BIGINT, TestNetwork, idr, qr_for
from tests.outcomes import outcome_of


@pytest.mark.parametrize("kind", ["cash_in_member", "transfer_payee", "cash_out_member"])
def test_a_member_id_beyond_bigint_is_simply_not_found_on_sqlite(
    sqlite_net: TestNetwork, kind: str
) -> None:
    """A member id is a caller value: 2**63 is `member_not_found` on SQLite as on
    PostgreSQL. `lock_daily` (interchange/daily_totals.py) looks up only ids a row can
    have (`row_ids`), so SQLite never gets an id it cannot bind (an OverflowError that
    would sink the whole batch)."""
    ksa = sqlite_net.add_coop("KSA")
    ani = sqlite_net.add_member("ani", ksa, cash_in=10_000)
    commands: dict[str, PaymentCommand] = {
        "cash_in_member": CashIn("big", ID_BEYOND_BIGINT, ksa.id, idr(5_000)),
        "transfer_payee": Transfer("big", ani.id, ID_BEYOND_BIGINT, idr(5_000)),
        "cash_out_member": CashOut("big", ID_BEYOND_BIGINT, ksa.id, idr(5_000)),
    }
    try:
        outcome = sqlite_net.services.payments.submit(commands[kind])
    except OverflowError as error:
        pytest.fail(f"submit raised OverflowError: {error!r}")
    assert outcome.code is PaymentErrorCode.MEMBER_NOT_FOUND


def test_looking_up_a_payment_id_no_payment_can_have_is_not_found(net: TestNetwork) -> None:
    """`Payments.payment` answers `original_not_found` for an id no payment can have (ids
    match `PAYMENT_ID_PATTERN`), without sending it to the driver: a NUL would give
    psycopg's DataError on PostgreSQL, a lone surrogate UnicodeEncodeError on both
    engines."""
    payments = net.services.payments
    ids: dict[str, Any] = {"nul": "pay\x00-1", "lone-surrogate": "pay-\ud800", "int": 123}
    outcomes = {name: outcome_of(partial(payments.payment, i)) for name, i in ids.items()}
    assert outcomes == {
        "nul": "code:original_not_found",
        "lone-surrogate": "code:original_not_found",
        "int": "code:original_not_found",
    }


def test_a_batch_with_no_command_or_too_many_is_refused_whole(net: TestNetwork) -> None:
    ksa = net.add_coop("KSA")
    before = snapshot(net.services.engine)
    payments = net.services.payments
    too_many = [CashIn(f"c-{n}", 1, ksa.id, idr(1_000)) for n in range(BATCH_COMMANDS_MAX + 1)]
    assert outcome_of(partial(payments.submit_batch, [])) == "code:batch_empty"
    assert outcome_of(partial(payments.submit_batch, too_many)) == "code:batch_too_large"
    assert snapshot(net.services.engine) == before


@pytest.mark.parametrize("named", ["pay\x00-1", "pay-\ud800", "x" * 500])
def test_a_refund_capture_or_void_naming_a_payment_no_id_can_be_is_not_found(
    net: TestNetwork, named: str
) -> None:
    """The payment a refund, capture or void names is caller input too: an id no payment
    can have is not found, never sent to the driver (DataError for a NUL on PostgreSQL,
    UnicodeEncodeError for a lone surrogate), and nothing changes."""
    payments = net.services.payments
    before = snapshot(net.services.engine)
    commands: list[PaymentCommand] = [
        Refund("r-1", named, idr(1)),
        Capture("c-1", named),
        Void("v-1", named),
    ]
    codes = [payments.submit(command).code for command in commands]
    assert codes == [
        PaymentErrorCode.ORIGINAL_NOT_FOUND,
        PaymentErrorCode.AUTHORIZATION_NOT_FOUND,
        PaymentErrorCode.AUTHORIZATION_NOT_FOUND,
    ]
    assert snapshot(net.services.engine) == before


def _wrongly_typed_ids(member: int, coop: int, payload: str) -> dict[str, PaymentCommand]:
    """Commands each naming one id by a value of the wrong type: unhashable, a bool, text."""
    unhashable: Any = [member]
    return {
        "void-list": Void("v-1", unhashable),
        "capture-dict": Capture("c-1", {"a": 1}),  # type: ignore[arg-type]
        "refund-list": Refund("r-1", unhashable, idr(1)),
        "transfer-payee-list": Transfer("t-1", member, unhashable, idr(1)),
        "transfer-payer-bool": Transfer("t-2", True, member, idr(1)),
        "cash-in-member-list": CashIn("ci-1", unhashable, coop, idr(10_000)),
        "cash-out-coop-text": CashOut("co-1", member, str(coop), idr(1)),  # type: ignore[arg-type]
        "purchase-payer-dict": QrPurchase("q-1", {member: 1}, payload, idr(1)),  # type: ignore[arg-type]
        "authorize-payer-float": Authorize("a-1", float(member), payload, idr(1)),  # type: ignore[arg-type]
    }


def test_an_id_of_the_wrong_type_names_nothing_and_sinks_no_batch(net: TestNetwork) -> None:
    """A member, cooperative or payment id of the wrong type (a list, a dict, a bool, text
    for an int, a float) is not found, with the field that named it, never Python's
    TypeError; in a batch the other commands are processed as if it were not there."""
    ksa, ksb = net.add_coop("KSA"), net.add_coop("KSB")
    ani = net.add_member("ani", ksa, cash_in=50_000)
    budi = net.add_member("budi", ksb)
    payload = qr_for(net.add_merchant("warung", ksb))
    commands = _wrongly_typed_ids(ani.id, ksa.id, payload)
    payments = net.services.payments
    before = snapshot(net.services.engine)
    refused = {name: payments.submit(command) for name, command in commands.items()}
    assert {name: (o.code, o.field) for name, o in refused.items()} == {
        "void-list": (PaymentErrorCode.AUTHORIZATION_NOT_FOUND, "authorization_id"),
        "capture-dict": (PaymentErrorCode.AUTHORIZATION_NOT_FOUND, "authorization_id"),
        "refund-list": (PaymentErrorCode.ORIGINAL_NOT_FOUND, "original_payment_id"),
        "transfer-payee-list": (PaymentErrorCode.MEMBER_NOT_FOUND, "payee_member_id"),
        "transfer-payer-bool": (PaymentErrorCode.MEMBER_NOT_FOUND, "payer_member_id"),
        "cash-in-member-list": (PaymentErrorCode.MEMBER_NOT_FOUND, "member_id"),
        "cash-out-coop-text": (PaymentErrorCode.COOP_NOT_FOUND, "counter_coop_id"),
        "purchase-payer-dict": (PaymentErrorCode.MEMBER_NOT_FOUND, "payer_member_id"),
        "authorize-payer-float": (PaymentErrorCode.MEMBER_NOT_FOUND, "payer_member_id"),
    }
    assert snapshot(net.services.engine) == before
    with pytest.raises(PaymentError) as raised:
        payments.pay(commands["cash-out-coop-text"])
    assert (raised.value.code, raised.value.field) == (
        PaymentErrorCode.COOP_NOT_FOUND,
        "counter_coop_id",
    )
    good = Transfer("good", ani.id, budi.id, idr(1_000))
    outcomes = payments.submit_batch([good, *commands.values()])
    assert outcomes[0].ok
    assert [o.code for o in outcomes[1:]] == [o.code for o in refused.values()]
    assert payments.payment("good").amount == idr(1_000)
