"""A registration or a status change is one transaction: refused or interrupted, it leaves
nothing behind (no ledger account without the row that points at it, no wallet frozen or
closed for a change that did not happen), and it waits for the lock of what it joins, so
nothing closes under it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from interchange import member_store
from interchange import registry as registry_module
from interchange.nik import NikVault
from interchange.registry import Registry
from interchange.registry_errors import RegistryError
from interchange.registry_errors import RegistryErrorCode as Code
from interchange.registry_model import Coop, Member, ParticipantStatus
from ledger.account import AccountStatus
from ledger.service import Ledger
from ledger.tables import account as ledger_account
from tests.conftest import TEST_SEAL_KEY
from tests.races import blocked_rival
from tests.unit.interchange.registry_builders import a_coop, a_member, a_merchant, the_network


class CrashedError(Exception):
    """Stands for a crash or a lost connection after the accounts were opened."""


def account_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger_account)).scalar_one())


def interrupting(monkeypatch: pytest.MonkeyPatch, insert_name: str) -> None:
    """Make the registry's row insert fail, after the accounts it points at were opened."""

    def fail(*_args: Any) -> None:
        raise CrashedError

    monkeypatch.setattr(registry_module, insert_name, fail)


def test_a_coop_registration_interrupted_before_its_row_opens_no_account(
    registry: Registry, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = account_count(ledger.engine)
    interrupting(monkeypatch, "insert_coop")
    with pytest.raises(CrashedError):
        registry.register_coop(a_coop())
    assert account_count(ledger.engine) == before
    monkeypatch.undo()
    coop = registry.register_coop(a_coop())
    assert account_count(ledger.engine) == before + 5
    assert ledger.account(coop.due_account_id).ref == f"coop:{coop.code}:due"


@pytest.mark.parametrize("joining", ["member", "merchant"])
def test_a_member_or_merchant_registration_interrupted_before_its_row_opens_no_wallet(
    registry: Registry, ledger: Ledger, coop: Coop, monkeypatch: pytest.MonkeyPatch, joining: str
) -> None:
    before = account_count(ledger.engine)
    interrupting(monkeypatch, f"insert_{joining}")
    register: Callable[[], object] = {
        "member": lambda: registry.register_member(a_member(coop_id=coop.id)),
        "merchant": lambda: registry.register_merchant(a_merchant(coop_id=coop.id)),
    }[joining]
    with pytest.raises(CrashedError):
        register()
    assert account_count(ledger.engine) == before


def test_a_close_interrupted_after_its_wallets_closed_leaves_every_wallet_as_it_was(
    registry: Registry, ledger: Ledger, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member has two empty wallets; the close fails after closing them, before the
    member's row. Nothing of it stays: both wallets active, the member active, and a
    second close goes through."""
    member = registry.register_member(a_member(coop_id=coop.id))
    registry.open_member_wallet(member.id, "savings")
    closed: list[set[AccountStatus]] = []

    def crash_once_the_wallets_changed(conn: Any, *_args: Any) -> None:
        statuses = select(ledger_account.c.status).where(ledger_account.c.coop_id == coop.id)
        closed.append({AccountStatus(s) for s in conn.execute(statuses).scalars()})
        raise CrashedError

    monkeypatch.setattr(member_store, "set_row_status", crash_once_the_wallets_changed)
    with pytest.raises(CrashedError):
        registry.set_member_status(member.id, "closed")
    wallets = registry.member_wallets(member.id)
    assert {ledger.account(w.account_id).status for w in wallets} == {AccountStatus.ACTIVE}
    seen = registry.member(member.id, viewer_coop_id=coop.id)
    assert isinstance(seen, Member) and seen.status is ParticipantStatus.ACTIVE
    monkeypatch.undo()
    assert AccountStatus.CLOSED in closed[0], "the crash came after the wallets closed"
    assert registry.set_member_status(member.id, "closed").status is ParticipantStatus.CLOSED
    assert {ledger.account(w.account_id).status for w in wallets} == {AccountStatus.CLOSED}


def locks(table: str) -> Callable[[str], bool]:
    """Matches the statement that locks a row of `table` for a status change or a join."""
    return lambda statement: "FOR NO KEY UPDATE" in statement and f"FROM {table}" in statement


def registrations_refused_while_closing(
    engine: Engine,
    close: Callable[[], object],
    locked_table: str,
    register: Callable[[], object],
) -> RegistryError:
    """Run `close`; once it holds the lock of `locked_table`'s row, run `register`, which
    must wait for it and then be refused. Return the refusal."""
    before = account_count(engine)
    with blocked_rival(engine, locks(locked_table), register) as rival:
        close()
    (future,) = rival
    error = future.exception(timeout=30)
    assert isinstance(error, RegistryError)
    assert account_count(engine) == before
    return error


@pytest.mark.postgres
def test_a_coop_registering_while_the_operator_closes_is_refused_and_opens_nothing(
    pg_ledger: Ledger,
) -> None:
    """The network operator closes (nothing else is registered): a coop registering at
    that moment waits for the operator's lock and is `coop_not_active`, with no account
    opened for it."""
    registry = Registry(pg_ledger.engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
    network = registry.register_coop(the_network())
    refused = registrations_refused_while_closing(
        pg_ledger.engine,
        lambda: registry.set_coop_status(network.id, "closed"),
        "interchange_coop",
        lambda: registry.register_coop(a_coop()),
    )
    assert refused.code is Code.COOP_NOT_ACTIVE


@pytest.mark.postgres
@pytest.mark.parametrize("joining", ["member", "merchant"])
def test_a_coop_closing_while_a_member_or_merchant_registers_waits_and_is_refused(
    pg_ledger: Ledger, joining: str
) -> None:
    """The close starts once the registration holds the coop's lock: it waits for the
    registration to commit, then finds the newcomer open (`coop_not_empty`). The newcomer
    is whole: its row and its wallet."""
    registry = Registry(pg_ledger.engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
    registry.register_coop(the_network())
    coop = registry.register_coop(a_coop())
    with blocked_rival(
        pg_ledger.engine,
        locks("interchange_coop"),
        lambda: registry.set_coop_status(coop.id, "closed"),
    ) as rival:
        if joining == "member":
            wallet_id = registry.register_member(a_member(coop_id=coop.id)).wallet_account_id
        else:
            wallet_id = registry.register_merchant(a_merchant(coop_id=coop.id)).wallet_account_id
    (future,) = rival
    refused = future.exception(timeout=30)
    assert isinstance(refused, RegistryError)
    assert refused.code is Code.COOP_NOT_EMPTY
    assert pg_ledger.account(wallet_id).status is AccountStatus.ACTIVE
    assert registry.coop(coop.id).status is ParticipantStatus.ACTIVE


@pytest.mark.postgres
def test_a_wallet_opening_while_its_member_closes_is_refused_and_opens_nothing(
    pg_ledger: Ledger,
) -> None:
    registry = Registry(pg_ledger.engine, NikVault.development(), seal_key=TEST_SEAL_KEY)
    registry.register_coop(the_network())
    coop = registry.register_coop(a_coop())
    member: Member = registry.register_member(a_member(coop_id=coop.id))
    refused = registrations_refused_while_closing(
        pg_ledger.engine,
        lambda: registry.set_member_status(member.id, "closed"),
        "interchange_member",
        lambda: registry.open_member_wallet(member.id, "savings"),
    )
    assert refused.code is Code.MEMBER_NOT_ACTIVE
    assert [w.label for w in registry.member_wallets(member.id)] == ["main"]
