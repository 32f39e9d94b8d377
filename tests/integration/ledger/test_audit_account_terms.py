"""The audit of accounts' terms, on both engines: each account's ref, cooperative,
currency, kind, status and limits carry a keyed digest (`ledger_account.terms_digest`,
migration 0008) that the ledger writes when it opens the account or changes its status,
and `Ledger.verify()` / `kopnet audit verify` recompute.

A term rewritten behind the ledger's back (a widened overdraft, a raised cap, a frozen
account unfrozen, a wallet moved, relabelled or renamed) is `account_terms_mismatch`; terms
copied with their digest onto another row too, as the digest covers the id; an account
without a digest (opened before 0008) is `account_terms_unsealed`. Status changes through
the ledger's API are sealed again and leave the audit intact, but never bless terms that
were rewritten before them.

Ledger used by most tests (amounts in rupiah), as in `test_audit.py`:
  fund    cash -> ani   100   ani #1 = 100
  pay     ani  -> budi   40   ani #2 =  60, budi #1 = 40
  top-up  cash -> citra  10   citra #1 = 10
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, select, update

from ledger.account import Account, AccountStatus
from ledger.audit import AuditReport
from ledger.service import Ledger
from ledger.tables import account, entry
from tests.builders import idr, open_wallets, post_sealed, transfer
from tests.cli import audit_verify_json
from tests.integration.ledger.raw import tampering

_TERMS_FINDINGS = {"account_terms_mismatch", "account_terms_unsealed"}


@pytest.fixture
def wallets(ledger: Ledger) -> dict[str, Account]:
    a = open_wallets(ledger, "ani", "budi", "citra")
    return post_sealed(
        ledger,
        a,
        transfer("fund", a["cash"], a["ani"], idr(100)),
        transfer("pay", a["ani"], a["budi"], idr(40)),
        transfer("top-up", a["cash"], a["citra"], idr(10)),
    )


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


def test_an_account_without_a_terms_digest_is_reported_unsealed(
    ledger: Ledger, wallets: dict[str, Account], db_url: str
) -> None:
    """An account opened before migration 0008 has no digest: reported, not recomputed;
    a status change does not seal it either."""
    citra = wallets["citra"].id
    with tampering(db_url) as conn:
        conn.execute(update(account).where(account.c.id == citra).values(terms_digest=None))
    assert _terms_findings(ledger.verify()) == [("account_terms_unsealed", citra)]
    ledger.set_account_status(citra, AccountStatus.FROZEN)
    assert _terms_findings(ledger.verify()) == [("account_terms_unsealed", citra)]


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
