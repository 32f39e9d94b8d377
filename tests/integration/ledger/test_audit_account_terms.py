"""The audit of accounts' terms, on both engines: each account's ref, cooperative,
currency, kind, status and limits carry a keyed digest (`ledger_account.terms_digest`,
migration 0008) that the ledger writes when it opens the account or changes its status,
and `Ledger.verify()` / `kopnet audit verify` recompute.

A term rewritten behind the ledger's back (a widened overdraft, a raised cap, a frozen
account unfrozen, a wallet moved, relabelled or renamed) is `account_terms_mismatch`; terms
copied with their digest onto another row too, as the digest covers the id. An account
without a digest is `account_terms_unsealed` if migration 0009 listed it as opened before
0008, until `seal_account_terms` seals it, and `account_terms_digest_missing` if it is not
listed, whatever is run. Status changes through
the ledger's API are sealed again and leave the audit intact, but never bless terms that
were rewritten before them.

Ledger used by most tests (amounts in rupiah), as in `test_audit.py`:
  fund    cash -> ani   100   ani #1 = 100
  pay     ani  -> budi   40   ani #2 =  60, budi #1 = 40
  top-up  cash -> citra  10   citra #1 = 10
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, insert, select, update

from ledger.account import Account, AccountStatus
from ledger.audit import AuditReport
from ledger.service import Ledger
from ledger.tables import account, account_unsealed, entry
from tests.builders import audited_three_wallets, idr, open_wallets, transfer
from tests.cli import audit_verify_json, invoke
from tests.conftest import TEST_SEAL_KEY
from tests.integration.ledger.raw import tampering

_TERMS_FINDINGS = {
    "account_terms_digest_missing",
    "account_terms_mismatch",
    "account_terms_unsealed",
}


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    return audited_three_wallets(ledger)


def _terms_findings(report: AuditReport) -> list[tuple[str, int]]:
    """The terms findings as (code, account id), in the audit's order."""
    return [
        (f.code, int(f.subject.split()[1])) for f in report.findings if f.code in _TERMS_FINDINGS
    ]


@pytest.mark.parametrize(
    ("term", "value"),
    [
        ("min_balance_minor", -1_000_000),
        ("max_balance_minor", 10**12),
        ("status", "frozen"),
        ("kind", "merchant_wallet"),
        ("coop_id", 2),
        ("ref", "c1:budi-renamed"),
        ("currency", "USD"),
    ],
)
def test_each_term_rewritten_behind_the_ledger_is_found_beside_other_findings(
    ledger: Ledger, wallets: dict[str, Account], db_url: str, term: str, value: object
) -> None:
    """One term of budi's rewritten, and an entry's digest too: both are reported in the
    one pass, the terms finding for budi's account alone."""
    budi = wallets["budi"].id
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == budi).values({term: value}))
        conn.execute(update(entry).where(entry.c.entry_id == "top-up").values(digest="x"))
    report = ledger.verify()
    assert _terms_findings(report) == [("account_terms_mismatch", budi)]
    assert "entry_digest_mismatch" in {f.code for f in report.findings}


def test_an_overdraft_widened_behind_the_ledger_is_found_though_every_entry_is_valid(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The gap this check closes: ani's lower limit widened to -Rp1,000, the ledger then
    lets her pay Rp500 with Rp60; every entry, link and balance recomputes, and only the
    account's terms show what was done."""
    ani = wallets["ani"].id
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == ani).values(min_balance_minor=-100_000))
    post_sealed_unchecked(ledger, transfer("overdraw", wallets["ani"], wallets["budi"], idr(500)))
    report = ledger.verify()
    assert ledger.account(ani).posted == idr(-440)
    assert [(f.code, f.subject) for f in report.findings] == [
        ("account_terms_mismatch", f"account {ani} (c1:ani)")
    ]


def test_an_overdraft_widened_then_put_back_is_found_by_the_balance_it_left(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """A float taken behind the ledger's back: ani's lower limit widened, a payment of
    Rp500 with Rp60, the money paid back, the limit put back (the database's check of
    limits allows it again). Her terms match their digest and every entry is valid; but
    limits never change once an account is opened, and one posting recorded a balance of
    -Rp440 below her lower limit of zero, which the ledger never lets a posting leave."""
    ani = wallets["ani"]
    with tampering(db_url) as conn:
        conn.execute(
            update(account).where(account.c.id == ani.id).values(min_balance_minor=-100_000)
        )
    post_sealed_unchecked(
        ledger,
        transfer("overdraw", ani, wallets["budi"], idr(500)),
        transfer("repay", wallets["budi"], ani, idr(500)),
    )
    with tampering(db_url) as conn:
        conn.execute(
            update(account)
            .where(account.c.id == ani.id)
            .values(min_balance_minor=ani.min_balance_minor)
        )
    findings = [(f.code, f.subject, f.detail) for f in ledger.verify().findings]
    assert findings == [
        ("posting_beyond_limit", f"account {ani.id} (c1:ani)", "a posting left -44000, below 0")
    ]


def post_sealed_unchecked(ledger: Ledger, *requests: object) -> None:
    """Post and seal without asking the audit (it is the audit under test)."""
    for request in requests:
        ledger.post(request)  # type: ignore[arg-type]
    assert ledger.seal() == len(requests)


def test_a_frozen_account_unfrozen_behind_the_ledger_is_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    budi = wallets["budi"].id
    ledger.set_account_status(budi, AccountStatus.FROZEN)
    assert ledger.verify().intact
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == budi).values(status="active"))
    assert _terms_findings(ledger.verify()) == [("account_terms_mismatch", budi)]


_SWAPPED = ("ref", "coop_id", "currency", "kind", "status", "min_balance_minor")


def _swap_terms(conn: Connection, one: int, other: int) -> None:
    """Give two accounts each other's terms, limits and digests (refs through a spare one,
    as they are unique)."""
    columns = [account.c[name] for name in (*_SWAPPED, "max_balance_minor", "terms_digest")]
    rows = {r.id: r for r in conn.execute(select(account.c.id, *columns))}
    conn.execute(update(account).where(account.c.id == one).values(ref="spare"))
    for target, source in ((other, one), (one, other)):
        values = {c.key: rows[source]._mapping[c.key] for c in columns}
        conn.execute(update(account).where(account.c.id == target).values(values))


def test_two_accounts_terms_swapped_with_their_digests_are_both_found(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The digest covers the account's id: ani's terms and digest copied onto budi's row
    and budi's onto ani's do not match on either."""
    ani, budi = wallets["ani"].id, wallets["budi"].id
    with tampering(db_url) as conn:
        _swap_terms(conn, ani, budi)
    report = ledger.verify()
    assert sorted(_terms_findings(report)) == [
        ("account_terms_mismatch", ani),
        ("account_terms_mismatch", budi),
    ]


def test_status_changes_through_the_ledger_are_sealed_and_the_audit_stays_intact(
    ledger: Ledger, wallets: dict[str, Account]
) -> None:
    """Freeze, unfreeze and close (an empty account) through the ledger's API."""
    dewi = open_wallets(ledger, "dewi", coop_id=1)["dewi"].id
    ledger.set_account_status(wallets["ani"].id, AccountStatus.FROZEN)
    assert ledger.verify().intact
    ledger.set_account_status(wallets["ani"].id, AccountStatus.ACTIVE)
    ledger.set_account_status(wallets["budi"].id, AccountStatus.FROZEN)
    ledger.set_account_status(dewi, AccountStatus.CLOSED)
    report = ledger.verify()
    assert report.intact, report.findings
    assert ledger.account(dewi).status is AccountStatus.CLOSED


def test_a_status_change_does_not_seal_terms_rewritten_before_it(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Freezing an account whose overdraft was widened behind the ledger's back keeps the
    mismatch for the audit: the ledger seals the new status only over terms it sealed."""
    budi = wallets["budi"].id
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == budi).values(min_balance_minor=-99))
    ledger.set_account_status(budi, AccountStatus.FROZEN)
    ledger.set_account_status(budi, AccountStatus.ACTIVE)
    assert _terms_findings(ledger.verify()) == [("account_terms_mismatch", budi)]


def _list_as_opened_before_0008(url: str, *account_ids: int) -> None:
    """Make accounts look as migration 0009 leaves those opened before 0008: no digest,
    and listed in `ledger_account_unsealed`."""
    with tampering(url) as conn:
        for account_id in account_ids:
            conn.execute(
                update(account).where(account.c.id == account_id).values(terms_digest=None)
            )
            coop_id = conn.execute(select(account.c.coop_id).where(account.c.id == account_id))
            conn.execute(
                insert(account_unsealed).values(account_id=account_id, coop_id=coop_id.scalar())
            )


def _listed(ledger: Ledger) -> list[int]:
    with ledger.engine.connect() as conn:
        query = select(account_unsealed.c.account_id).order_by(account_unsealed.c.account_id)
        return list(conn.execute(query).scalars())


def test_an_account_opened_before_0008_is_unsealed_until_seal_terms_seals_it(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """A listed account without a digest is reported unsealed, a status change does not
    seal it; `seal_account_terms` seals its terms as they stand, once, and the audit is
    then intact; a second run finds nothing to do."""
    citra = wallets["citra"].id
    _list_as_opened_before_0008(db_url, citra)
    assert _terms_findings(ledger.verify()) == [("account_terms_unsealed", citra)]
    ledger.set_account_status(citra, AccountStatus.FROZEN)
    assert _terms_findings(ledger.verify()) == [("account_terms_unsealed", citra)]
    done = ledger.seal_account_terms()
    assert (done.sealed, done.unreadable, _listed(ledger)) == ((citra,), (), [])
    report = ledger.verify()
    assert report.intact, report.findings
    assert ledger.seal_account_terms().sealed == ()
    ledger.set_account_status(citra, AccountStatus.ACTIVE)
    assert ledger.verify().intact


def test_seal_terms_seals_every_listed_account_over_several_rounds(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """Three listed accounts, one a round: all sealed, lowest id first, none left listed;
    a listed account that has its digest is taken off the list as it is."""
    ids = sorted(wallets[name].id for name in ("cash", "ani", "citra"))
    _list_as_opened_before_0008(db_url, *ids)
    budi = wallets["budi"].id
    with tampering(db_url) as conn:
        conn.execute(insert(account_unsealed).values(account_id=budi, coop_id=1))
    done = ledger.seal_account_terms(per_round=1)
    assert (done.sealed, done.unreadable, _listed(ledger)) == (tuple(ids), (), [])
    report = ledger.verify()
    assert report.intact, report.findings


def test_a_digest_removed_behind_the_ledger_is_missing_and_never_sealed_again(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """The ledger seals every account it opens: an account without a digest that migration
    0009 did not list lost it behind the ledger's back. Neither a status change nor
    `seal_account_terms` seals it, whatever its terms became meanwhile."""
    citra = wallets["citra"].id
    with tampering(db_url) as conn:
        conn.execute(
            update(account)
            .where(account.c.id == citra)
            .values(terms_digest=None, min_balance_minor=-(10**9))
        )
    missing = [("account_terms_digest_missing", citra)]
    assert _terms_findings(ledger.verify()) == missing
    ledger.set_account_status(citra, AccountStatus.FROZEN)
    assert ledger.seal_account_terms().sealed == ()
    assert _terms_findings(ledger.verify()) == missing


def test_ledger_seal_terms_command_seals_the_listed_accounts_and_the_audit_exits_0(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    ani, citra = wallets["ani"].id, wallets["citra"].id
    _list_as_opened_before_0008(db_url, ani, citra)
    assert audit_verify_json(db_url)[0] == 1
    env = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()}
    result = invoke("ledger", "seal-terms", "--database-url", db_url, env=env)
    assert result.exit_code == 0, result.output
    assert "sealed the terms of 2 accounts" in result.output
    assert audit_verify_json(db_url)[0] == 0


def test_audit_verify_exits_1_on_a_raised_upper_limit(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """`kopnet audit verify --json` reports an account's terms rewritten with exit 1."""
    citra = wallets["citra"].id
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == citra).values(max_balance_minor=10**6))
    status, report = audit_verify_json(db_url)
    assert status == 1
    findings = report["findings"]
    assert [(f["code"], f["subject"]) for f in findings] == [
        ("account_terms_mismatch", f"account {citra} (c1:citra)")
    ]
