"""What a payment batch loads, on both engines: the parties its commands name, and only the
cooperatives those belong to (with the network), however many others the network has; of
the authorizations named, their merchants' criteria and when their holds expire."""

from __future__ import annotations

from datetime import timedelta

from interchange.batch_loading import load_named
from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    PaymentCommand,
    QrPurchase,
    Refund,
    Transfer,
    Void,
)
from interchange.payment_store_pg import BatchLoad
from interchange.routing import ParsedCommand, parse_command
from tests.integration.interchange.test_payments_books import World
from tests.network import idr, qr_for


def load(w: World, *commands: PaymentCommand) -> BatchLoad:
    parsed = [parse_command(c) for c in commands]
    assert all(isinstance(p, ParsedCommand) for p in parsed)
    calendar = w.net.services.settlement.calendar
    with w.net.services.engine.begin() as conn:
        return load_named(conn, parsed, calendar)


def loaded_coops(w: World, *commands: PaymentCommand) -> set[int]:
    return set(load(w, *commands).coops)


def test_a_purchase_loads_the_payers_and_the_merchants_cooperatives_only(w: World) -> None:
    w.net.add_coop("KSC")  # a bystander, not named by the purchase
    purchase = QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(10_000))
    assert loaded_coops(w, purchase) == {w.network.id, w.ksa.id, w.ksb.id}


def test_a_cash_counter_and_a_refunds_original_bring_their_cooperatives(w: World) -> None:
    counter = w.net.add_coop("KSC")
    w.net.services.payments.pay(QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(10_000)))
    cash_in = CashIn("c-1", w.budi.id, counter.id, idr(50_000))
    refund = Refund("r-1", "p-1", idr(1_000))
    assert loaded_coops(w, cash_in) == {w.network.id, w.ksb.id, counter.id}
    assert loaded_coops(w, refund) == {w.network.id, w.ksa.id, w.ksb.id}
    transfer = Transfer("t-1", w.citra.id, w.ani.id, idr(1_000))
    assert loaded_coops(w, transfer) == {w.network.id, w.ksa.id}
    assert loaded_coops(w, transfer, cash_in) == {w.network.id, w.ksa.id, w.ksb.id, counter.id}


def test_a_capture_and_a_void_bring_their_authorizations_merchant_criteria_and_expiry(
    w: World,
) -> None:
    payments = w.net.services.payments
    payments.pay(Authorize("a-1", w.ani.id, qr_for(w.mikro), idr(10_000), timeout_s=600))
    payments.pay(Authorize("a-2", w.budi.id, qr_for(w.toko), idr(20_000), timeout_s=900))
    loaded = load(w, Capture("c-1", "a-1", idr(5_000)), Void("v-2", "a-2"))
    assert loaded.merchant_criteria == {w.mikro.id: "UMI", w.toko.id: "UKE"}
    ledger = w.net.services.ledger
    assert loaded.hold_expires_at == {
        "a-1": ledger.entry(payments.payment("a-1").entry_id).expires_at,
        "a-2": ledger.entry(payments.payment("a-2").entry_id).expires_at,
    }
    assert all(moment.utcoffset() == timedelta(0) for moment in loaded.hold_expires_at.values())


def test_nothing_of_an_authorization_is_looked_up_unless_a_command_names_it(w: World) -> None:
    """A replayed authorization is loaded as the command's own payment, and a refund's
    original is no authorization: neither needs a criteria or an expiry."""
    authorize = Authorize("a-1", w.ani.id, qr_for(w.mikro), idr(10_000))
    w.net.services.payments.pay(authorize)
    w.net.services.payments.pay(QrPurchase("p-1", w.ani.id, qr_for(w.toko), idr(10_000)))
    loaded = load(w, authorize, Refund("r-1", "p-1", idr(1_000)))
    assert "a-1" in loaded.payments
    assert (loaded.merchant_criteria, loaded.hold_expires_at) == ({}, {})
