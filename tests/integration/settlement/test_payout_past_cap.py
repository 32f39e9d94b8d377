"""A settlement payment is booked whatever the payee's due balance has become since the close.

Cooperative B is owed Rp500.000 by the window that closed; its own members spend Rp500.000
and authorize Rp60.000 at A's shop in the next window, which its cap (Rp100.000) allows
only because the network still owes it the Rp500.000. The bank pays B that credit:
booking it takes B's due balance past its cap. The bank has paid, so the booking goes
through and the window settles; B's cap then refuses whatever would raise its due balance
further, and B's merchants are still paid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from interchange.payment_model import (
    Authorize,
    Capture,
    CashIn,
    PaymentCommand,
    PaymentErrorCode,
    QrPurchase,
    Refund,
    Void,
)
from interchange.registry_model import Coop, Member, Merchant
from settlement.window_rules import WindowStatus
from tests.integration.settlement.night import wait_for_cutoff
from tests.network import TestNetwork, cutoff_in, idr, network_on, qr_for

CAP_RUPIAH = 100_000


@dataclass
class PastCap:
    """A network where the bank has just paid KSB more than its cap's headroom."""

    net: TestNetwork
    ksb: Coop
    ani: Member
    budi: Member
    shop_a: Merchant
    shop_b: Merchant
    payout_minor: int
    due_before_payout_minor: int


def _due(net: TestNetwork, coop: Coop) -> int:
    return net.balance(coop.due_account_id).amount_minor


@contextmanager
def past_cap(url: str) -> Iterator[PastCap]:
    """Yesterday ani (KSA) paid KSB's shop Rp500.000. Today KSB's budi spent Rp500.000 at
    KSA's shop and authorized three payments of Rp20.000 there (`auth-0` to `auth-2`), all
    within KSB's cap only because the network still owed it yesterday's credit; then
    yesterday's window was settled."""
    with network_on(url, cutoff_s=cutoff_in(3)) as net:
        ksa, ksb = net.add_coop("KSA"), net.add_coop("KSB", cap_rupiah=CAP_RUPIAH)
        ani = net.add_member("ani", ksa, cash_in=1_000_000)
        budi = net.add_member("budi", ksb, cash_in=1_000_000)
        shop_a, shop_b = net.add_merchant("Kios A", ksa), net.add_merchant("Warung B", ksb)
        payments, settlement = net.services.payments, net.services.settlement
        first = payments.pay(QrPurchase("day-1", ani.id, qr_for(shop_b), idr(500_000)))
        wait_for_cutoff(net, first.business_date)
        settlement.close(first.business_date, actor="night-job")
        later = payments.pay(QrPurchase("day-2", budi.id, qr_for(shop_a), idr(500_000)))
        assert later.business_date > first.business_date
        for n in range(3):
            payments.pay(Authorize(f"auth-{n}", budi.id, qr_for(shop_a), idr(20_000)))
        due_before = _due(net, ksb)

        rows = settlement.start(first.business_date, actor="ops-manager")
        (to_ksb,) = (r for r in rows if r.payee_coop_id == ksb.id and not r.internal)
        for n, row in enumerate(r for r in rows if not r.internal):
            settlement.confirm(
                row.reference, bank_reference=f"BANK-{n}", amount=row.amount, actor="treasurer"
            )
        assert settlement.summary(first.business_date).status is WindowStatus.SETTLED
        payout = to_ksb.amount.amount_minor
        yield PastCap(net, ksb, ani, budi, shop_a, shop_b, payout, due_before)


def test_a_payout_past_the_payees_cap_is_booked_and_its_cap_then_refuses_its_payments(
    db_url: str,
) -> None:
    with past_cap(db_url) as state:
        net, budi, payments = state.net, state.budi, state.net.services.payments
        assert _due(net, state.ksb) == state.due_before_payout_minor + state.payout_minor
        assert _due(net, state.ksb) > CAP_RUPIAH * 100
        refused = payments.submit(QrPurchase("day-2b", budi.id, qr_for(state.shop_a), idr(1_000)))
        assert refused.code == PaymentErrorCode.NET_DEBIT_CAP_EXCEEDED
        paid = payments.submit(QrPurchase("day-2c", state.ani.id, qr_for(state.shop_b), idr(1)))
        assert paid.ok


def test_past_its_cap_a_cooperative_may_still_capture_for_less_but_nothing_raises_its_debt(
    db_url: str,
) -> None:
    """Capturing for less takes less than the hold counted against the cap, as capturing in
    full does: both go through, and so does a void. A refund by its merchant, or the
    network's fee on a cash-in at its own counter, would raise what it owes: refused."""
    with past_cap(db_url) as state:
        budi, ksb, payments = state.budi, state.ksb, state.net.services.payments
        commands: dict[str, PaymentCommand] = {
            "capture in full": Capture("cap-0", "auth-0"),
            "capture for less": Capture("cap-1", "auth-1", idr(5_000)),
            "void": Void("void-2", "auth-2"),
            "refund by its merchant": Refund("refund", "day-1", idr(1_000)),
            "cash-in at its counter": CashIn("cash-in", budi.id, ksb.id, idr(10_000)),
        }
        codes = {name: payments.submit(c).code for name, c in commands.items()}
        cap = PaymentErrorCode.NET_DEBIT_CAP_EXCEEDED
        assert codes == {
            "capture in full": None,
            "capture for less": None,
            "void": None,
            "refund by its merchant": cap,
            "cash-in at its counter": cap,
        }
