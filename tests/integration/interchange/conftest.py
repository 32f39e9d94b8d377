"""Fixtures shared by the interchange's integration tests, on both engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interchange.nik import NikVault
from interchange.registry import Registry
from interchange.registry_model import Coop
from ledger.service import Ledger
from tests.conftest import TEST_SEAL_KEY
from tests.integration.interchange.test_payments_books import World, build_world
from tests.network import TestNetwork, network_on
from tests.unit.interchange.registry_builders import a_coop, the_network


@pytest.fixture
def w(db_url: str) -> Iterator[World]:
    """A small network (cooperatives, members, merchants, funded wallets)."""
    with network_on(db_url) as net:
        yield build_world(net)


@pytest.fixture
def registry(ledger: Ledger) -> Registry:
    """A registry with the network operator registered."""
    registry = Registry(ledger.engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
    registry.register_coop(the_network())
    return registry


@pytest.fixture
def coop(registry: Registry) -> Coop:
    """A cooperative (KSP-01) registered with `registry`."""
    return registry.register_coop(a_coop())


@pytest.fixture
def net(db_url: str) -> Iterator[TestNetwork]:
    """An empty network (the operator and the launch fee schedule), on each engine."""
    with network_on(db_url) as network:
        yield network


@pytest.fixture
def sqlite_net(sqlite_url: str) -> Iterator[TestNetwork]:
    """The same network on SQLite only."""
    with network_on(sqlite_url) as network:
        yield network
