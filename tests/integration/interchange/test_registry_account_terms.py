"""The registry opens and freezes ledger accounts with their terms sealed, on both engines:
after registrations and status changes through `Registry`, the ledger's audit finds every
account's terms digest intact (`ledger_account.terms_digest`, migration 0008), and one
rewritten behind the registry's back is still found after a later status change.
"""

from __future__ import annotations

from sqlalchemy import update

from interchange.registry import Registry
from interchange.registry_model import Coop, ParticipantStatus
from ledger.account import AccountStatus
from ledger.service import Ledger
from ledger.tables import account
from tests.integration.ledger.raw import tampering
from tests.unit.interchange.registry_builders import a_member, a_merchant


def test_member_and_merchant_status_changes_leave_the_terms_audit_intact(
    ledger: Ledger, registry: Registry, coop: Coop
) -> None:
    """A member suspended and reactivated, a second wallet opened, a merchant suspended:
    every wallet's status changed in the ledger, every terms digest sealed again."""
    member = registry.register_member(a_member(coop_id=coop.id))
    merchant = registry.register_merchant(a_merchant(coop_id=coop.id))
    registry.open_member_wallet(member.id, "savings")
    registry.set_member_status(member.id, ParticipantStatus.SUSPENDED)
    wallets = registry.member_wallets(member.id)
    assert {ledger.account(w.account_id).status for w in wallets} == {AccountStatus.FROZEN}
    report = ledger.verify()
    assert report.intact, report.findings
    registry.set_member_status(member.id, ParticipantStatus.ACTIVE)
    registry.set_merchant_status(merchant.id, ParticipantStatus.SUSPENDED)
    report = ledger.verify()
    assert report.intact, report.findings
    assert report.accounts_checked >= 3 + 5 + 2 + 1


def test_a_wallet_limit_raised_behind_the_registry_stays_found_after_a_suspension(
    ledger: Ledger, registry: Registry, coop: Coop, db_url: str
) -> None:
    """The member's balance cap raised in the database, then the member suspended and
    reactivated through the registry: the status changes do not seal the raised cap."""
    member = registry.register_member(a_member(coop_id=coop.id))
    wallet_id = registry.member_wallets(member.id)[0].account_id
    with tampering(db_url) as conn:
        raised = update(account).where(account.c.id == wallet_id).values(max_balance_minor=10**14)
        conn.execute(raised)
    registry.set_member_status(member.id, ParticipantStatus.SUSPENDED)
    registry.set_member_status(member.id, ParticipantStatus.ACTIVE)
    findings = [(f.code, f.subject.split()[1]) for f in ledger.verify().findings]
    assert findings == [("account_terms_mismatch", str(wallet_id))]
