"""Entry digests and the seal chain: stable, sensitive to every field, and keyed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from ledger.digest import (
    GENESIS_HASH,
    AccountEvent,
    AccountTerms,
    CanonicalPosting,
    account_event_link,
    account_terms_digest,
    chain_link,
    entry_digest,
)
from ledger.entry import EntryKind
from tests.unit.ledger.book import Book, make_account, move, request

KEY = b"unit-test-seal-key"
COMMITTED_AT = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)
POSTINGS: list[CanonicalPosting] = [
    (1, 7, "IDR", -500, False, 3, 9500),
    (2, 8, "IDR", 500, False, 1, 500),
]
FIELDS: dict[str, Any] = {
    "entry_id": "pay-1",
    "kind": "posted",
    "target_id": None,
    "business_date": date(2026, 11, 23),
    "timeout_s": None,
    "expires_at": None,
    "metadata_json": '{"note":"kopi"}',
    "committed_at": COMMITTED_AT,
    "postings": POSTINGS,
}
# Recorded once; a change here means every digest already stored stops verifying.
KNOWN_DIGEST = "ab7ee8d8b4642002f4db42132216a5881955a6a5e0d54d088aabcf2ecdb47f91"


def _digest(key: bytes = KEY, **changes: Any) -> str:
    return entry_digest(key, **{**FIELDS, **changes})


def test_the_digest_is_the_hmac_of_the_documented_canonical_form() -> None:
    micros = (COMMITTED_AT - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    canonical = (
        '["pay-1","posted",null,"2026-11-23",null,null,"{\\"note\\":\\"kopi\\"}",'
        f'{micros},[[1,7,"IDR",-500,false,3,9500],[2,8,"IDR",500,false,1,500]]]'
    )
    expected = hmac.new(KEY, canonical.encode(), hashlib.sha256).hexdigest()
    assert _digest() == expected == KNOWN_DIGEST


def test_equal_inputs_give_equal_digests() -> None:
    assert _digest() == _digest(postings=[tuple(p) for p in POSTINGS])


def test_the_same_instant_in_another_time_zone_gives_the_same_digest() -> None:
    jakarta = COMMITTED_AT.astimezone(timezone(timedelta(hours=7)))
    assert _digest(committed_at=jakarta) == _digest()


_HOLD_EXPIRES_AT = COMMITTED_AT + timedelta(seconds=60)


@pytest.mark.parametrize(
    "changes",
    [
        {"entry_id": "pay-2"},
        {"kind": "pending"},
        {"target_id": "hold-1"},
        {"target_id": ""},
        {"business_date": date(2026, 11, 24)},
        {"timeout_s": 60},
        {"timeout_s": 0},
        {"expires_at": _HOLD_EXPIRES_AT},
        {"metadata_json": None},
        {"metadata_json": '{"note":"teh"}'},
        {"committed_at": COMMITTED_AT + timedelta(microseconds=1)},
        {"postings": list(reversed(POSTINGS))},
        {"postings": POSTINGS[:1]},
        {"postings": []},
        {"postings": [(9, "IDR", -500, False, 3, 9500), POSTINGS[1]]},
        {"postings": [(1, "JPY", -500, False, 3, 9500), POSTINGS[1]]},
        {"postings": [(1, "IDR", -501, False, 3, 9500), POSTINGS[1]]},
        {"postings": [(1, "IDR", -500, True, 3, 9500), POSTINGS[1]]},
        {"postings": [(1, "IDR", -500, False, 4, 9500), POSTINGS[1]]},
        {"postings": [(1, "IDR", -500, False, None, 9500), POSTINGS[1]]},
        {"postings": [(1, "IDR", -500, False, 3, 9501), POSTINGS[1]]},
        {"postings": [(1, "IDR", -500, False, 3, None), POSTINGS[1]]},
    ],
    ids=lambda changes: "-".join(f"{k}={v!r}"[:40] for k, v in changes.items()),
)
def test_changing_any_field_changes_the_digest(changes: dict[str, Any]) -> None:
    assert _digest(**changes) != _digest()


def test_the_key_matters() -> None:
    assert _digest(key=b"another-key") != _digest()
    assert _digest(key=b"unit-test-seal-kez") != _digest()


def test_an_empty_key_or_a_naive_moment_is_a_programmer_error() -> None:
    with pytest.raises(AssertionError):
        _digest(key=b"")
    with pytest.raises(AssertionError):
        _digest(committed_at=COMMITTED_AT.replace(tzinfo=None))
    with pytest.raises(AssertionError):
        _digest(expires_at=COMMITTED_AT.replace(tzinfo=None))


def test_the_planner_digests_exactly_what_it_records() -> None:
    book = Book.of(make_account(1, min_balance_minor=None), make_account(2))
    book.outcomes(move("hold", 1, 2, 700, kind=EntryKind.PENDING, timeout_s=30))
    book.outcomes(request("capture", EntryKind.POST_PENDING, "hold"))
    for entry in book.entries.values():
        recomputed = entry_digest(
            b"unit-test-seal-key",
            entry_id=entry.entry_id,
            kind=entry.kind.value,
            target_id=entry.target_id,
            business_date=entry.business_date,
            timeout_s=entry.timeout_s,
            expires_at=entry.expires_at,
            metadata_json=entry.metadata_json,
            committed_at=entry.committed_at,
            postings=[
                (
                    p.account_id,
                    p.coop_id,
                    p.amount.currency,
                    p.amount.amount_minor,
                    p.is_pending,
                    p.account_posting_no,
                    p.balance_after_minor,
                )
                for p in entry.postings
            ],
        )
        assert recomputed == entry.digest


# The chain.

_D1, _D2 = "11" * 32, "22" * 32


def test_a_chain_link_is_the_keyed_hmac_of_the_previous_link_and_the_digest() -> None:
    expected = hmac.new(KEY, f"{GENESIS_HASH}:{_D1}".encode(), hashlib.sha256).hexdigest()
    assert GENESIS_HASH == "0" * 64
    assert chain_link(KEY, GENESIS_HASH, _D1) == expected
    assert chain_link(b"another-key", GENESIS_HASH, _D1) != expected


def test_the_chain_depends_on_order_and_on_every_earlier_link() -> None:
    one_two = chain_link(KEY, chain_link(KEY, GENESIS_HASH, _D1), _D2)
    two_one = chain_link(KEY, chain_link(KEY, GENESIS_HASH, _D2), _D1)
    only_two = chain_link(KEY, GENESIS_HASH, _D2)
    assert len({one_two, two_one, only_two}) == 3
    assert chain_link(KEY, GENESIS_HASH, _D1) != chain_link(KEY, "ff" * 32, _D1)


@pytest.mark.parametrize("digest", ["", "ab", "zz" * 32, "\x00", "\ud800"])
def test_a_malformed_stored_digest_still_gives_a_link(digest: str) -> None:
    """The audit and the sealer link whatever a tampered row holds, and never fail on it."""
    link = chain_link(KEY, GENESIS_HASH, digest)
    assert len(link) == 64 and link != chain_link(KEY, GENESIS_HASH, _D1)


TERMS: AccountTerms = (7, "c1:ani", 1, "IDR", "member_wallet", "active", 0, 2_000_000_000)


def test_an_account_terms_digest_is_stable_and_keyed() -> None:
    digest = account_terms_digest(KEY, TERMS)
    assert digest == account_terms_digest(KEY, TERMS)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != account_terms_digest(b"another-key", TERMS)


@pytest.mark.parametrize(
    ("position", "other"),
    [
        (0, 8),
        (1, "c1:budi"),
        (2, 2),
        (3, "USD"),
        (4, "merchant_wallet"),
        (5, "frozen"),
        (6, None),
        (6, -1),
        (7, None),
        (7, 2_000_000_001),
    ],
)
def test_an_account_terms_digest_changes_with_every_term(position: int, other: object) -> None:
    """Id, ref, coop, currency, kind, status and each limit (a limit removed, too)."""
    changed = tuple(other if i == position else term for i, term in enumerate(TERMS))
    assert account_terms_digest(KEY, changed) != account_terms_digest(KEY, TERMS)  # type: ignore[arg-type]


def _hmac_of(canonical: str) -> str:
    return hmac.new(KEY, canonical.encode(), hashlib.sha256).hexdigest()


def test_version_0_is_not_rendered_so_digests_from_before_versions_still_verify() -> None:
    """The canonical form of terms at version 0 is the one digests had before migration
    0013; any other version is rendered after the limits."""
    canonical = '["account_terms",7,"c1:ani",1,"IDR","member_wallet","active",0,2000000000'
    assert account_terms_digest(KEY, TERMS) == _hmac_of(canonical + "]")
    assert account_terms_digest(KEY, TERMS, 0) == account_terms_digest(KEY, TERMS)
    assert account_terms_digest(KEY, TERMS, 3) == _hmac_of(canonical + ",3]")


def test_every_version_gives_another_terms_digest() -> None:
    digests = {account_terms_digest(KEY, TERMS, version) for version in (-1, 0, 1, 2, 10)}
    assert len(digests) == 5


EVENT: AccountEvent = (4, 7, 1, 2, "frozen", "ab" * 32, COMMITTED_AT)


def test_an_account_event_link_is_the_keyed_hmac_of_the_documented_canonical_form() -> None:
    micros = (COMMITTED_AT - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    canonical = f'["account_event","{GENESIS_HASH}",4,7,1,2,"frozen","{"ab" * 32}",{micros}]'
    assert account_event_link(KEY, GENESIS_HASH, EVENT) == _hmac_of(canonical)
    assert account_event_link(b"another-key", GENESIS_HASH, EVENT) != _hmac_of(canonical)


@pytest.mark.parametrize(
    ("position", "other"),
    [
        (0, 5),
        (1, 8),
        (2, 2),
        (3, 3),
        (4, "active"),
        (5, None),
        (5, "cd" * 32),
        (6, COMMITTED_AT + timedelta(microseconds=1)),
    ],
)
def test_an_account_event_link_changes_with_every_field(position: int, other: object) -> None:
    """Seq, account, coop, version, status, digest (one recorded as none, too) and time."""
    changed = tuple(other if i == position else value for i, value in enumerate(EVENT))
    link = account_event_link(KEY, GENESIS_HASH, EVENT)
    assert account_event_link(KEY, GENESIS_HASH, changed) != link  # type: ignore[arg-type]


def test_an_account_event_link_depends_on_the_link_before_it() -> None:
    first = account_event_link(KEY, GENESIS_HASH, EVENT)
    assert account_event_link(KEY, first, EVENT) != first
