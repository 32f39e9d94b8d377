"""What a payment batch loads, on both engines: the parties its commands name, and only the
cooperatives those belong to (with the network), however many others the network has."""

from __future__ import annotations

from interchange.batch_loading import load_named
from interchange.payment_model import CashIn, PaymentCommand, QrPurchase, Refund, Transfer
from interchange.routing import ParsedCommand, parse_command
from tests.integration.interchange.test_payments_books import World
from tests.network import idr, qr_for


def loaded_coops(w: World, *commands: PaymentCommand) -> set[int]:
    parsed = [parse_command(c) for c in commands]
    assert all(isinstance(p, ParsedCommand) for p in parsed)
    calendar = w.net.services.settlement.calendar
    with w.net.services.engine.begin() as conn:
        return set(load_named(conn, parsed, calendar).coops)


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
