"""`seal-terms` and the account history, on both engines: what the history cannot show
until `kopnet ledger seal-terms` records it, and what that command must not seal.

Accounts frozen or closed before migration 0013 sit at terms version 0 with no event (the
upgrade adds the version and an empty history), as do those changed since after a
downgrade below 0013 and an upgrade again: their opening row put back (active, with its
valid version-0 digest) would match a history that says nothing of them. The audit reports
each as `account_terms_unversioned`, and `seal_account_terms` records it: a baseline event
at version 1 with its status, its digest sealed again at version 1 only where the stored
one is valid.

A listed account whose history recorded a digest lost it behind the ledger's back: sealing
it again would bless whatever was written meanwhile, so `seal_account_terms` leaves it
listed and the audit reports `account_terms_digest_missing`. A listed account sealed once
its status changed gets an event recording that digest, so a later listing is refused too.

Ledger used throughout (amounts in rupiah), as in `test_audit.py`:
  fund    cash -> ani   100   ani #1 = 100
  pay     ani  -> budi   40   ani #2 =  60, budi #1 = 40
  top-up  cash -> citra  10   citra #1 = 10
and dewi, an empty wallet of the same cooperative.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from ledger.account import Account, AccountStatus
from ledger.digest import account_terms_digest
from ledger.service import Ledger
from ledger.tables import account, account_event, account_unsealed
from tests.builders import audited_three_wallets_and_dewi
from tests.cli import audit_verify_json, invoke
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import SEALED_TERMS, tampering

ACTIVE, FROZEN, CLOSED = AccountStatus.ACTIVE, AccountStatus.FROZEN, AccountStatus.CLOSED
_WIDE = -(10**9)


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    return audited_three_wallets_and_dewi(ledger)


def _findings(ledger: Ledger) -> list[tuple[str, str]]:
    return [(f.code, f.subject) for f in ledger.verify().findings]


def _events(ledger: Ledger) -> list[tuple[int, int, int, str, str | None]]:
    """The history as (seq, account, version, status, digest), in order."""
    c = account_event.c
    query = select(c.seq, c.account_id, c.version, c.status, c.terms_digest).order_by(c.seq)
    with ledger.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def _seal(ledger: Ledger, account_id: int) -> dict[str, Any]:
    """The account row's status, terms version and digest, as stored."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(*SEALED_TERMS).where(account.c.id == account_id)).one()
    return dict(row._mapping)


def _listed(ledger: Ledger) -> list[int]:
    with ledger.engine.connect() as conn:
        query = select(account_unsealed.c.account_id).order_by(account_unsealed.c.account_id)
        return list(conn.execute(query).scalars())


def _put_back(url: str, account_id: int, seal: dict[str, Any]) -> None:
    """Restore an account's earlier status, version and digest behind the ledger's back."""
    with tampering(url) as conn:
        conn.execute(update(account).where(account.c.id == account_id).values(seal))


def _changed_before_0013(url: str, found: Account, status: AccountStatus) -> None:
    """Leave the account as a status change before 0013 did, and the upgrade found it: the
    new status, its version-0 digest, and no event."""
    digest = account_terms_digest(TEST_SEAL_KEY, replace(found, status=status).terms())
    _put_back(url, found.id, {"status": status.value, "terms_digest": digest})


def _digest_removed_and_listed(url: str, account_id: int, **terms: object) -> None:
    """Behind the ledger's back: the account's terms rewritten, its digest removed, and the
    account listed as a migration lists one (whoever can do one can do the other)."""
    with tampering(url) as conn:
        values = {**terms, "terms_digest": None}
        conn.execute(update(account).where(account.c.id == account_id).values(values))
        conn.execute(insert(account_unsealed).values(account_id=account_id, coop_id=1))


@pytest.mark.parametrize(("status", "name"), [(FROZEN, "budi"), (CLOSED, "dewi")])
def test_an_account_changed_before_0013_is_unversioned_until_seal_terms_records_it(
    ledger: Ledger, wallets: dict[str, Account], db_url: str, status: AccountStatus, name: str
) -> None:
    """The gap: budi frozen (dewi closed) before 0013, then his opening row put back
    (active, its valid version-0 digest). Before `seal-terms` he is reported as
    unversioned; it records him at version 1 with his digest sealed again, and the row put
    back afterwards is behind his history."""
    found = wallets[name]
    opening = _seal(ledger, found.id)
    _changed_before_0013(db_url, found, status)
    subject = f"account {found.id} (c1:{name})"
    assert _findings(ledger) == [("account_terms_unversioned", subject)]
    done = ledger.seal_account_terms()
    assert (done.sealed, done.recorded, done.refused) == ((), (found.id,), ())
    sealed_again = account_terms_digest(TEST_SEAL_KEY, replace(found, status=status).terms(), 1)
    after = {"status": status.value, "terms_version": 1, "terms_digest": sealed_again}
    assert _seal(ledger, found.id) == after
    assert _events(ledger) == [(1, found.id, 1, status.value, sealed_again)]
    assert _findings(ledger) == []
    assert ledger.seal_account_terms().recorded == ()
    _put_back(db_url, found.id, opening)
    assert _findings(ledger) == [("account_terms_rolled_back", subject)]


def test_seal_terms_records_an_unversioned_account_without_blessing_its_terms(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi frozen before 0013, and his overdraft widened since behind the ledger's back:
    his digest no longer matches. He is recorded at version 1, his digest left as it was,
    so the mismatch stays the audit's finding."""
    budi = wallets["budi"]
    _changed_before_0013(db_url, budi, FROZEN)
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == budi.id).values(min_balance_minor=_WIDE))
    stored = _seal(ledger, budi.id)["terms_digest"]
    assert ledger.seal_account_terms().recorded == (budi.id,)
    assert _seal(ledger, budi.id) == {
        "status": "frozen",
        "terms_version": 1,
        "terms_digest": stored,
    }
    assert _events(ledger) == [(1, budi.id, 1, "frozen", stored)]
    assert _findings(ledger) == [("account_terms_mismatch", f"account {budi.id} (c1:budi)")]


def test_seal_terms_records_every_unversioned_account_over_several_rounds(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Ani and budi frozen and dewi closed before 0013, citra frozen since (she has her
    event): one a round, the three recorded lowest id first, citra left as she is."""
    for name, status in (("budi", FROZEN), ("dewi", CLOSED), ("ani", FROZEN)):
        _changed_before_0013(db_url, wallets[name], status)
    citra = wallets["citra"].id
    ledger.set_account_status(citra, FROZEN)
    done = ledger.seal_account_terms(per_round=1)
    ani, budi, dewi = (wallets[name].id for name in ("ani", "budi", "dewi"))
    assert done.recorded == (ani, budi, dewi)
    assert [event[1:4] for event in _events(ledger)] == [
        (citra, 1, "frozen"),
        (ani, 1, "frozen"),
        (budi, 1, "frozen"),
        (dewi, 1, "closed"),
    ]
    assert _findings(ledger) == []


def test_an_unversioned_account_without_a_digest_is_recorded_and_still_missing_one(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi frozen before 0013, his digest removed since (not listed): recorded at version
    1 without a digest, which no command gives him."""
    budi = wallets["budi"]
    _changed_before_0013(db_url, budi, FROZEN)
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == budi.id).values(terms_digest=None))
    assert ledger.seal_account_terms().recorded == (budi.id,)
    assert _events(ledger) == [(1, budi.id, 1, "frozen", None)]
    missing = [("account_terms_digest_missing", f"account {budi.id} (c1:budi)")]
    assert _findings(ledger) == missing


def test_ledger_seal_terms_command_records_the_unversioned_accounts(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    _changed_before_0013(db_url, wallets["budi"], FROZEN)
    assert audit_verify_json(db_url)[0] == 1
    env = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()}
    result = invoke("ledger", "seal-terms", "--database-url", db_url, env=env)
    assert result.exit_code == 0, result.output
    assert "recorded 1 accounts frozen or closed before 0013" in result.output, result.output
    assert audit_verify_json(db_url)[0] == 0


def test_a_listed_account_whose_history_recorded_a_digest_is_never_sealed_again(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Budi frozen (his event records a digest); then his overdraft widened, his digest
    removed and he listed; an operator unfreezes him (the event records no digest, as he
    has none) and runs `seal-terms`: he is left listed and unsealed, the command exits 1,
    and the audit reports his digest missing, not merely unsealed."""
    budi = wallets["budi"].id
    ledger.set_account_status(budi, FROZEN)
    _digest_removed_and_listed(db_url, budi, min_balance_minor=_WIDE)
    missing = [("account_terms_digest_missing", f"account {budi} (c1:budi)")]
    assert _findings(ledger) == missing
    ledger.set_account_status(budi, ACTIVE)
    assert _events(ledger)[-1][1:] == (budi, 2, "active", None)
    done = ledger.seal_account_terms()
    assert (done.sealed, done.refused, _listed(ledger)) == ((), (budi,), [budi])
    assert _seal(ledger, budi)["terms_digest"] is None
    assert _findings(ledger) == missing
    env = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()}
    result = invoke("ledger", "seal-terms", "--database-url", db_url, env=env)
    assert result.exit_code == 1, result.output
    printed = " ".join(result.output.split())
    assert f"their terms or history disagree (`audit verify` says how): {budi}" in printed, printed


def test_sealing_a_listed_account_with_a_history_records_the_digest_it_gives(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Citra listed as 0009 lists an account (no digest) and frozen while listed: her
    event records no digest. `seal-terms` seals her at version 2 with an event recording
    that digest; her digest removed and her listed again later, it refuses her."""
    citra = wallets["citra"].id
    _digest_removed_and_listed(db_url, citra)
    ledger.set_account_status(citra, FROZEN)
    assert ledger.seal_account_terms().sealed == (citra,)
    sealed = _seal(ledger, citra)
    assert (sealed["terms_version"], _listed(ledger)) == (2, [])
    assert _events(ledger) == [
        (1, citra, 1, "frozen", None),
        (2, citra, 2, "frozen", sealed["terms_digest"]),
    ]
    assert _findings(ledger) == []
    _digest_removed_and_listed(db_url, citra, min_balance_minor=_WIDE)
    assert ledger.seal_account_terms().refused == (citra,)
    assert _findings(ledger) == [("account_terms_digest_missing", f"account {citra} (c1:citra)")]


def test_a_listed_account_put_back_behind_its_history_is_not_sealed(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Citra listed (no digest) and frozen while listed; her row as it was before (active,
    version 0, no digest) put back. Sealing her at a version after her history's would
    bless the unfreeze: she is refused, and reported as rolled back."""
    citra = wallets["citra"].id
    _digest_removed_and_listed(db_url, citra)
    before = _seal(ledger, citra)
    ledger.set_account_status(citra, FROZEN)
    _put_back(db_url, citra, before)
    assert ledger.seal_account_terms().refused == (citra,)
    assert _events(ledger) == [(1, citra, 1, "frozen", None)]
    rolled_back = ("account_terms_rolled_back", f"account {citra} (c1:citra)")
    assert rolled_back in _findings(ledger)


def test_an_account_sealed_where_its_latest_event_recorded_no_digest_is_reported(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Citra listed and frozen while listed (her event records no digest), then given a
    valid digest of her terms at that version without the ledger recording it (as a
    sealing outside `seal-terms` would): her row is not what her history says."""
    citra = wallets["citra"]
    _digest_removed_and_listed(db_url, citra.id)
    ledger.set_account_status(citra.id, FROZEN)
    digest = account_terms_digest(TEST_SEAL_KEY, replace(citra, status=FROZEN).terms(), 1)
    with tampering(db_url) as conn:
        conn.execute(delete(account_unsealed).where(account_unsealed.c.account_id == citra.id))
        conn.execute(update(account).where(account.c.id == citra.id).values(terms_digest=digest))
    assert _findings(ledger) == [("account_terms_rolled_back", f"account {citra.id} (c1:citra)")]
