"""Tamper evidence: each entry's keyed digest, and the hash chain that seals entries in order.

An entry's digest is HMAC-SHA256, under the ledger's sealing key, of a canonical rendering
of everything the entry recorded (id, kind, target, dates, metadata, every posting with its
account, cooperative, running number and balance after). Without the key nobody can forge a
digest for an entry written behind the ledger's back. The chain links sealed entries:
`link[n] = HMAC-SHA256(key, link[n-1] || digest[n])`, starting from `GENESIS_HASH`, so
deleting or reordering a sealed entry breaks every later link, and without the key nobody
can compute the links again around the gap.

An account's terms digest is HMAC-SHA256, under the same key, of a canonical rendering of
the terms that decide what the account may do: id, ref, cooperative, currency, kind, status
and both limits, and the account's terms version where it is not 0 (every digest written
before versions, migration 0013, has version 0 and still verifies). The id is in it, so
terms and digest copied together onto another row do not match there; the version, so an
earlier row and its digest put back after a status change do not match the history
below; the balances are not, so posting never rewrites it.

An account event (a status change) is linked into the account history's chain:
`link[n] = HMAC-SHA256(key, canonical(link[n-1], event[n]))`, from `GENESIS_HASH`, so an
event altered or removed from the middle breaks its link or the next one, and without the
key nobody can link one in.

The key's fingerprint is HMAC-SHA256 of a fixed text under it: recorded in the database,
it tells a wrong key from the right one without revealing either. Pure functions; no I/O.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "GENESIS_HASH",
    "AccountEvent",
    "AccountTerms",
    "CanonicalPosting",
    "account_event_link",
    "account_terms_digest",
    "chain_link",
    "entry_digest",
    "seal_key_fingerprint",
]

GENESIS_HASH = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One encoder for every digest (it keeps no state between calls): `json.dumps` with these
# options would build a new one each time.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

# (account_id, coop_id, currency, amount_minor, is_pending, account_posting_no,
#  balance_after_minor)
CanonicalPosting = tuple[int, int, str, int, bool, int | None, int | None]
# (id, ref, coop_id, currency, kind, status, min_balance_minor, max_balance_minor)
AccountTerms = tuple[int, str, int, str, str, str, int | None, int | None]
# (seq, account_id, coop_id, version, status, terms_digest, created_at)
AccountEvent = tuple[int, int, int, int, str, str | None, datetime]
# Lead an account's and an account event's canonical forms, so that neither renders as the
# other, nor as an entry's.
_ACCOUNT_TAG = "account_terms"
_EVENT_TAG = "account_event"
# What the key's fingerprint is the HMAC of; no entry, link or terms renders as this text.
_FINGERPRINT_TEXT = b"kopnet seal key check v1"


def entry_digest(
    key: bytes,
    *,
    entry_id: str,
    kind: str,
    target_id: str | None,
    business_date: date,
    timeout_s: int | None,
    expires_at: datetime | None,
    metadata_json: str | None,
    committed_at: datetime,
    postings: Sequence[CanonicalPosting],
) -> str:
    """Return the hex HMAC-SHA256 of the entry's canonical form; equal inputs, equal digest."""
    assert key, "the sealing key must not be empty"
    assert committed_at.tzinfo is not None, "timestamps are UTC-aware"
    canonical = _CANONICAL.encode(
        [
            entry_id,
            kind,
            target_id,
            business_date.isoformat(),
            timeout_s,
            _instant(expires_at),
            metadata_json,
            _instant(committed_at),
            list(postings),
        ]
    )
    return hmac.digest(key, canonical.encode(), "sha256").hex()


def _instant(moment: datetime | None) -> int | None:
    """Microseconds since the epoch: one rendering whatever the database's time zone."""
    if moment is None:
        return None
    assert moment.tzinfo is not None, "timestamps are UTC-aware"
    return (moment - _EPOCH) // timedelta(microseconds=1)


def chain_link(key: bytes, previous: str, digest: str) -> str:
    """Return the keyed link that follows `previous` for an entry with `digest`. Any stored
    text is accepted: a malformed digest gives a link like any other (and fails its own
    digest check), never an error."""
    assert key, "the sealing key must not be empty"
    message = f"{previous}:{digest}".encode("utf-8", "surrogatepass")
    return hmac.digest(key, message, "sha256").hex()


def account_terms_digest(key: bytes, terms: AccountTerms, version: int = 0) -> str:
    """Return the hex HMAC-SHA256 of the account's canonical terms at `version`; equal
    terms and version, equal digest. The limits render as integers or null, the kind and
    status as their stored text; version 0 is not rendered (digests from before versions)."""
    assert key, "the sealing key must not be empty"
    assert len(terms) == 8, "id, ref, coop, currency, kind, status and both limits"
    versioned = [version] if version != 0 else []
    canonical = _CANONICAL.encode([_ACCOUNT_TAG, *terms, *versioned])
    return hmac.digest(key, canonical.encode("utf-8", "surrogatepass"), "sha256").hex()


def account_event_link(key: bytes, previous: str, event: AccountEvent) -> str:
    """Return the keyed link that follows `previous` in the account history for `event`.
    Any stored text is accepted: a malformed one gives a link like any other."""
    assert key, "the sealing key must not be empty"
    assert len(event) == 7, "seq, account, coop, version, status, digest and time"
    *fields, created_at = event
    canonical = _CANONICAL.encode([_EVENT_TAG, previous, *fields, _instant(created_at)])
    return hmac.digest(key, canonical.encode("utf-8", "surrogatepass"), "sha256").hex()


def seal_key_fingerprint(key: bytes) -> str:
    """Return the hex HMAC-SHA256 of a fixed text under `key`: equal keys, equal
    fingerprint, and nothing of the key to be learnt from it."""
    assert key, "the sealing key must not be empty"
    fingerprint = hmac.digest(key, _FINGERPRINT_TEXT, "sha256").hex()
    assert len(fingerprint) == 64, "a hex SHA-256"
    return fingerprint
