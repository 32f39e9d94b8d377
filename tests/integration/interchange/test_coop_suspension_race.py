"""A cooperative's suspension and the payments in flight that read it active: each
payment is recorded before the suspension commits, or refused after it (PostgreSQL,
where batches and status changes run at once; SQLite runs one writer at a time).

A payment batch share-locks the cooperatives it reads (`interchange.payment_store_pg`),
so the suspension waits for a batch that read them active and has not committed. The
payment here is held up, after its load, on the merchant's wallet, which a plain session
holds as a concurrent payment to the same merchant would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interchange.payment_model import QrPurchase
from tests.integration.interchange.test_payments_books import World, build_world
from tests.network import idr, network_on, qr_for
from tests.races import change_while_a_payment_waits

pytestmark = pytest.mark.postgres


@pytest.fixture
def w(pg_url: str) -> Iterator[World]:
    with network_on(pg_url) as net:
        yield build_world(net)


@pytest.mark.parametrize("suspended", ["operator", "issuer", "acquirer"])
def test_a_suspension_waits_for_a_payment_that_read_its_coop_active(
    w: World, pg_url: str, suspended: str
) -> None:
    """The suspension returned at once while the payment waited, and the payment was
    then recorded after it (found by a review: 9 runs of 9)."""
    services = w.net.services
    target = {"operator": w.net.network, "issuer": w.ksa, "acquirer": w.ksb}[suspended]
    purchase = QrPurchase("during", w.ani.id, qr_for(w.toko, idr(10_000)))
    paid, changed = change_while_a_payment_waits(
        pg_url,
        services.engine,
        w.toko.wallet_account_id,
        lambda: services.payments.submit(purchase),
        lambda: services.registry.set_coop_status(target.id, "suspended"),
    )
    assert paid.ok, paid
    assert changed.status.value == "suspended"
    after = services.payments.submit(QrPurchase("after", w.ani.id, qr_for(w.toko, idr(1_000))))
    assert after.code == "coop_not_active", after
