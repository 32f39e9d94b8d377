"""The terms migration 0012 found on an account it unsealed, checked against their digest.

0012 removed the upper limit of each cooperative's due account and set its digest to NULL
(a migration does not know the key), listing it for `kopnet ledger seal-terms` with its
status, upper limit and digest as found (`ledger_account_unsealed.prior_*`). Those, with
the account's other terms as they stand (id, ref, cooperative, currency, kind and lower
limit, which the ledger never changes), must match that digest at version 0 (0012 ran
before terms versions): otherwise the terms had been rewritten behind the ledger's back
before the upgrade (a frozen account set back to active, a cap raised), and sealing the
account now would bless them. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.digest import AccountTerms, account_terms_digest

__all__ = ["PriorTerms", "prior_of", "prior_terms_match"]


@dataclass(frozen=True, slots=True)
class PriorTerms:
    """What 0012 found on a listed account: its status, upper limit and digest, as stored
    (any value; one of another type than the column's never matches)."""

    status: object
    max_balance_minor: object
    terms_digest: object


def prior_of(row: Any) -> PriorTerms | None:
    """What 0012 found on a listed account, from a row of `ledger_account_unsealed`'s
    `prior_*` columns (None for an account another migration listed)."""
    if row.prior_terms_digest is None:
        return None
    return PriorTerms(row.prior_status, row.prior_max_balance_minor, row.prior_terms_digest)


def prior_terms_match(key: bytes, terms: AccountTerms, prior: PriorTerms) -> bool:
    """Whether the account's terms as 0012 found them (`terms` as they stand, with the
    prior status and upper limit) recompute the digest it found."""
    status, ceiling, digest = prior.status, prior.max_balance_minor, prior.terms_digest
    readable = (
        isinstance(status, str)
        and (ceiling is None or type(ceiling) is int)
        and isinstance(digest, str)
    )
    if not readable:
        return False
    assert isinstance(status, str) and (ceiling is None or isinstance(ceiling, int))
    account_id, ref, coop_id, currency, kind, _, floor, _ = terms
    found: AccountTerms = (account_id, ref, coop_id, currency, kind, status, floor, ceiling)
    return account_terms_digest(key, found) == digest
