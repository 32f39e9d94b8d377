"""Idempotency: a request whose id is already recorded either replays or conflicts.

The same id with the same request returns the original entry and records nothing. The same
id with a different request fails with a code naming the first field that differs, in this
order: kind, target, legs (accounts), amounts, business date, timeout, metadata.
"""

from __future__ import annotations

from ledger.entry import Entry, EntryKind, EntryRequest, Leg
from ledger.errors import LedgerError, LedgerErrorCode

__all__ = ["compare_with_existing"]

_CODE = LedgerErrorCode


def compare_with_existing(
    request: EntryRequest, metadata_json: str | None, existing: Entry, target: Entry | None
) -> None:
    """Return quietly when `request` is the one that recorded `existing`; raise otherwise."""
    assert request.entry_id == existing.entry_id
    if request.kind is not existing.kind:
        raise _differs(_CODE.EXISTS_WITH_DIFFERENT_KIND, "kind")
    if request.target_id != existing.target_id:
        raise _differs(_CODE.EXISTS_WITH_DIFFERENT_PENDING_ID, "target_id")
    expected = _expected_legs(request, target)
    if expected is not None:
        _compare_legs(expected, existing.legs())
    if request.business_date != existing.business_date:
        raise _differs(_CODE.EXISTS_WITH_DIFFERENT_BUSINESS_DATE, "business_date")
    if request.timeout_s != existing.timeout_s:
        raise _differs(_CODE.EXISTS_WITH_DIFFERENT_TIMEOUT, "timeout_s")
    if metadata_json != existing.metadata_json:
        raise _differs(_CODE.EXISTS_WITH_DIFFERENT_METADATA, "metadata")


def _expected_legs(request: EntryRequest, target: Entry | None) -> tuple[Leg, ...] | None:
    """The legs the request would have recorded; None when the target decides them."""
    if request.kind is EntryKind.POST_PENDING and not request.legs:
        return target.legs() if target is not None else None
    if request.kind in (EntryKind.POSTED, EntryKind.PENDING, EntryKind.POST_PENDING):
        return request.legs
    return None


def _compare_legs(expected: tuple[Leg, ...], recorded: tuple[Leg, ...]) -> None:
    if [leg.account_id for leg in expected] != [leg.account_id for leg in recorded]:
        raise _differs(_CODE.EXISTS_WITH_DIFFERENT_LEGS, "legs")
    if [leg.amount for leg in expected] != [leg.amount for leg in recorded]:
        raise _differs(_CODE.EXISTS_WITH_DIFFERENT_AMOUNT, "legs", "amounts")


def _differs(code: LedgerErrorCode, field: str, what: str | None = None) -> LedgerError:
    return LedgerError(code, f"entry id exists with different {what or field}", field=field)
