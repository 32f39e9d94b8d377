"""The terms 0012 found on a due account match the digest it found, or they were rewritten."""

from __future__ import annotations

import pytest

from ledger.digest import AccountTerms, account_terms_digest
from ledger.prior_terms import PriorTerms, prior_terms_match

KEY = b"k" * 32
# As 0012 leaves a due account: no upper limit; it found one of Rp50.000, frozen.
NOW: AccountTerms = (6, "coop:KSB:due", 2, "IDR", "settlement", "active", None, None)
FOUND: AccountTerms = (6, "coop:KSB:due", 2, "IDR", "settlement", "frozen", None, 5_000_000)
DIGEST = account_terms_digest(KEY, FOUND)


def test_the_terms_as_found_match_their_digest_whatever_the_status_and_limit_now() -> None:
    assert prior_terms_match(KEY, NOW, PriorTerms("frozen", 5_000_000, DIGEST))


@pytest.mark.parametrize(
    "prior",
    [
        PriorTerms("active", 5_000_000, DIGEST),  # unfrozen behind the ledger's back
        PriorTerms("frozen", 9_000_000, DIGEST),  # a cap raised
        PriorTerms("frozen", None, DIGEST),
        PriorTerms("frozen", 5_000_000, "0" * 64),
        PriorTerms("frozen", 5_000_000, None),
        PriorTerms(None, 5_000_000, DIGEST),
        PriorTerms("frozen", "5000000", DIGEST),  # a value of another type (SQLite)
        PriorTerms("frozen", True, DIGEST),
    ],
)
def test_terms_rewritten_before_the_upgrade_or_values_that_do_not_read_do_not_match(
    prior: PriorTerms,
) -> None:
    assert not prior_terms_match(KEY, NOW, prior)


def test_the_other_terms_are_those_the_account_has_now() -> None:
    moved = (6, "coop:KSB:due", 3, "IDR", "settlement", "active", None, None)
    assert not prior_terms_match(KEY, moved, PriorTerms("frozen", 5_000_000, DIGEST))
