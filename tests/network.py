"""A small payment network for tests: the operator, cooperatives, members, merchants.

`build_network(url)` migrates nothing: give it a fresh migrated database (see conftest).
Every test network has the launch fee schedule published and a window cut-off a given
number of seconds after now, so settlement tests can close the window they paid into.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from api.bootstrap import Services, build
from api.settings import Settings
from interchange.criteria import MerchantCriteria
from interchange.fee_defaults import launch_schedule
from interchange.merchant_qr import merchant_qr
from interchange.registry_model import (
    Coop,
    CoopSpec,
    KycTier,
    Member,
    MemberSpec,
    Merchant,
    MerchantSpec,
)
from ledger.money import Money
from tests.conftest import TEST_SEAL_KEY

__all__ = [
    "ID_BEYOND_BIGINT",
    "TestNetwork",
    "cutoff_in",
    "idr",
    "network_on",
    "qr_for",
    "services_cutting_off_in",
]

# One past the largest BIGINT: every id column in the schema is a 64-bit integer.
ID_BEYOND_BIGINT = 2**63


def idr(rupiah: int) -> Money:
    """Whole rupiah as IDR money."""
    return Money(rupiah * 100, "IDR")


@dataclass
class TestNetwork:
    """Services over one database, with the participants registered in it."""

    __test__ = False

    services: Services
    network: Coop
    coops: list[Coop] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    merchants: dict[str, Merchant] = field(default_factory=dict)

    def add_coop(self, code: str, cap_rupiah: int = 100_000_000) -> Coop:
        """Register a cooperative with a net debit cap in whole rupiah."""
        n = len(self.coops) + 2
        coop = self.services.registry.register_coop(
            CoopSpec(
                code,
                f"Koperasi {code}",
                f"AHU-{n:04d}",
                "BRINIDJA",
                f"00210{n:05d}",
                f"{code} Settlement",
                cap_rupiah * 100,
            )
        )
        self.coops.append(coop)
        return coop

    def add_member(
        self, name: str, coop: Coop, *, tier: KycTier = KycTier.VERIFIED, cash_in: int = 0
    ) -> Member:
        """Register a member; fund their wallet with a cash-in at their own coop if asked."""
        n = len(self.members) + 1
        member = self.services.registry.register_member(
            MemberSpec(coop.id, f"M{n:05d}", name, f"0812{n:08d}", f"32730145{n:08d}", tier)
        )
        self.members[name] = member
        if cash_in:
            from interchange.payment_model import CashIn

            self.services.payments.pay(CashIn(f"fund-{name}", member.id, coop.id, idr(cash_in)))
        return member

    def add_merchant(
        self, name: str, coop: Coop, criteria: MerchantCriteria = MerchantCriteria.UKE
    ) -> Merchant:
        """Register a merchant of `coop`."""
        n = len(self.merchants) + 1
        merchant = self.services.registry.register_merchant(
            MerchantSpec(coop.id, f"S{n:04d}", name, "Bandung", "40111", "5812", criteria)
        )
        self.merchants[name] = merchant
        return merchant

    def balance(self, account_id: int) -> Money:
        """The posted balance of a ledger account."""
        return self.services.ledger.account(account_id).posted

    def due_accounts(self, coop: Coop) -> dict[int, int]:
        """Due account id → owner: the coop's own, or for the network one per participant."""
        if not coop.is_network:
            return {coop.due_account_id: coop.id}
        return {c.network_due_account_id: coop.id for c in [self.network, *self.coops]}

    def due_balance(self, coop: Coop) -> int:
        """What the coop owes the network (negative: is owed), over all its due accounts."""
        return sum(self.balance(a).amount_minor for a in self.due_accounts(coop))


def qr_for(merchant: Merchant, amount: Money | None = None) -> str:
    """The merchant's static QR payload, or a dynamic one with `amount`."""
    return merchant_qr(merchant, amount)


def cutoff_in(seconds: int) -> int:
    """A window cut-off (seconds after local midnight) `seconds` from now, capped at midnight."""
    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    elapsed = int((now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds())
    return min(86_400, elapsed + seconds)


@contextmanager
def services_cutting_off_in(url: str, seconds: int) -> Iterator[Services]:
    """Services over an already set-up network at `url` whose window cuts off `seconds`
    from now; the test is skipped when that would fall at or past midnight."""
    cutoff_s = cutoff_in(seconds)
    if cutoff_s >= 86_400 - 1:
        pytest.skip("too close to midnight to place a cut-off")
    services = build(
        Settings(database_url=url, seal_key=TEST_SEAL_KEY.decode(), window_cutoff_s=cutoff_s)
    )
    try:
        yield services
    finally:
        services.close()


@contextmanager
def network_on(url: str, *, cutoff_s: int = 86_400) -> Iterator[TestNetwork]:
    """Services over `url` with the operator registered and the launch tariff published."""
    settings = Settings(database_url=url, seal_key=TEST_SEAL_KEY.decode(), window_cutoff_s=cutoff_s)
    services = build(settings)
    try:
        network = services.registry.register_coop(
            CoopSpec(
                "KOPNET",
                "PT Kopnet Nusantara",
                "AHU-0001",
                "BMRIIDJA",
                "0021000000",
                "Kopnet Settlement",
                0,
                is_network=True,
            )
        )
        services.payments.publish_schedule(launch_schedule())
        yield TestNetwork(services, network)
    finally:
        services.close()
