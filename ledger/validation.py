"""Shape checks of entry requests, made before the database is touched.

Checks run in this order and the first failure wins: entry id, kind (an `EntryKind`, not
its text), kind-specific fields (target id, timeout), the legs' types, leg count, amounts,
account repeated, balance per currency, ceilings, metadata, business date. Each failure
raises `LedgerError` with a stable code. The limits here are the ledger's published limits.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

from ledger.entry import (
    EXPIRY_ID_PREFIX,
    RESOLUTION_KINDS,
    Ceiling,
    EntryKind,
    EntryRequest,
    Leg,
    expiry_entry_id,
)
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.money import AMOUNT_MINOR_MAX, Money

__all__ = [
    "BATCH_SIZE_MAX",
    "BUSINESS_DATE_MAX",
    "BUSINESS_DATE_MIN",
    "ENTRY_ID_PATTERN",
    "LEGS_MAX",
    "METADATA_CHARS_MAX",
    "TIMEOUT_S_MAX",
    "canonical_metadata",
    "require_new_entry_id",
    "storable_entry_ids",
    "validate_request",
    "validate_requests",
]

BATCH_SIZE_MAX = 8190
LEGS_MAX = 16
METADATA_KEYS_MAX = 32
METADATA_CHARS_MAX = 2048
TIMEOUT_S_MAX = 7 * 24 * 3600
BUSINESS_DATE_MIN = date(2000, 1, 1)
BUSINESS_DATE_MAX = date(2999, 12, 31)
ENTRY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
_METADATA_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

_KINDS_WITH_LEGS = frozenset({EntryKind.POSTED, EntryKind.PENDING})
_KINDS_WITHOUT_LEGS = frozenset(
    {EntryKind.VOID_PENDING, EntryKind.EXPIRE_PENDING, EntryKind.REVERSAL}
)


def _fail(code: LedgerErrorCode, message: str, field: str) -> LedgerError:
    return LedgerError(code, message, field=field)


def storable_entry_ids(ids: Iterable[object]) -> set[str]:
    """The ids that can name an entry (every recorded id matches `ENTRY_ID_PATTERN`); any
    other value names nothing, so lookups skip it instead of sending it to the database,
    which may not even be able to encode it (a NUL, a lone surrogate)."""
    return {i for i in ids if isinstance(i, str) and ENTRY_ID_PATTERN.fullmatch(i)}


def validate_request(request: EntryRequest) -> str | None:
    """Check a request's shape; return its canonical metadata JSON (None when empty)."""
    if not isinstance(request.entry_id, str) or not ENTRY_ID_PATTERN.fullmatch(request.entry_id):
        raise _fail(
            LedgerErrorCode.ENTRY_ID_INVALID,
            "entry_id must match [A-Za-z0-9._:/-] and be 1-64 characters",
            "entry_id",
        )
    if not isinstance(request.kind, EntryKind):
        raise _fail(LedgerErrorCode.ENTRY_KIND_INVALID, "kind must be an EntryKind", "kind")
    _check_kind_fields(request)
    _check_legs(request.kind, request.legs)
    _check_ceilings(request)
    metadata_json = canonical_metadata(request.metadata)
    # A datetime is a date too, but compares with neither bound.
    day = request.business_date
    if type(day) is not date or not BUSINESS_DATE_MIN <= day <= BUSINESS_DATE_MAX:
        raise _fail(
            LedgerErrorCode.BUSINESS_DATE_INVALID, "business date out of range", "business_date"
        )
    return metadata_json


def validate_requests(requests: Iterable[EntryRequest]) -> tuple[str | LedgerError | None, ...]:
    """Each request's `validate_request` result, in request order: its canonical metadata
    JSON (None when empty), or the `LedgerError` refusing its shape, returned rather than
    raised so that one bad request does not hide the others' results."""
    results: list[str | LedgerError | None] = []
    for request in requests:
        try:
            results.append(validate_request(request))
        except LedgerError as error:
            results.append(error)
    return tuple(results)


def require_new_entry_id(request: EntryRequest) -> None:
    """Refuse a new entry whose id starts `expire-` unless it is the sweeper's expiry of
    its target: otherwise a caller could take the id the sweeper will use and keep a hold
    open. Checked only for an entry not yet recorded, so an entry recorded before the
    rule existed still replays."""
    if request.entry_id.startswith(EXPIRY_ID_PREFIX) and not _is_the_expiry_of_its_target(request):
        raise _fail(
            LedgerErrorCode.ENTRY_ID_INVALID,
            f"ids starting {EXPIRY_ID_PREFIX!r} are the expiry sweeper's",
            "entry_id",
        )


def _is_the_expiry_of_its_target(request: EntryRequest) -> bool:
    """True for the entry the expiry sweeper records for `request.target_id`."""
    target = request.target_id
    return (
        request.kind is EntryKind.EXPIRE_PENDING
        and isinstance(target, str)
        and ENTRY_ID_PATTERN.fullmatch(target) is not None
        and request.entry_id == expiry_entry_id(target)
    )


def _check_kind_fields(request: EntryRequest) -> None:
    needs_target = request.kind in RESOLUTION_KINDS or request.kind is EntryKind.REVERSAL
    if needs_target and (not isinstance(request.target_id, str) or not request.target_id):
        raise _fail(
            LedgerErrorCode.PENDING_ID_REQUIRED,
            f"{request.kind} needs target_id, an entry id as text",
            "target_id",
        )
    if not needs_target and request.target_id is not None:
        raise _fail(
            LedgerErrorCode.PENDING_ID_NOT_ALLOWED,
            f"{request.kind} takes no target_id",
            "target_id",
        )
    if request.kind is EntryKind.PENDING:
        timeout = request.timeout_s
        if type(timeout) is not int or not 1 <= timeout <= TIMEOUT_S_MAX:
            raise _fail(
                LedgerErrorCode.TIMEOUT_INVALID,
                f"a hold needs timeout_s between 1 and {TIMEOUT_S_MAX}",
                "timeout_s",
            )
    elif request.timeout_s is not None:
        raise _fail(LedgerErrorCode.TIMEOUT_INVALID, "only holds take timeout_s", "timeout_s")


def _check_leg_types(legs: object) -> None:
    """Refuse legs of the wrong types before anything keys or sums them: `True` and `1.0`
    hash as account 1, so a batch would lock, load and digest them as another id."""
    shaped = isinstance(legs, tuple | list) and all(
        isinstance(leg, Leg) and type(leg.account_id) is int and isinstance(leg.amount, Money)
        for leg in legs
    )
    if not shaped:
        raise _fail(
            LedgerErrorCode.LEGS_INVALID,
            "legs are a list of Leg, each an integer account id and a Money amount",
            "legs",
        )


def _check_legs(kind: EntryKind, legs: tuple[Leg, ...]) -> None:
    _check_leg_types(legs)
    if kind in _KINDS_WITHOUT_LEGS and legs:
        raise _fail(LedgerErrorCode.LEGS_TOO_MANY, f"{kind} takes no legs", "legs")
    if kind is EntryKind.POST_PENDING and not legs:
        return
    if kind in _KINDS_WITHOUT_LEGS:
        return
    if len(legs) < 2:
        raise _fail(LedgerErrorCode.LEGS_TOO_FEW, "an entry needs at least two legs", "legs")
    if len(legs) > LEGS_MAX:
        raise _fail(LedgerErrorCode.LEGS_TOO_MANY, f"at most {LEGS_MAX} legs", "legs")
    for leg in legs:
        if leg.amount.amount_minor == 0:
            raise _fail(LedgerErrorCode.AMOUNT_ZERO, "a leg cannot be zero", "legs")
    if len({leg.account_id for leg in legs}) != len(legs):
        raise _fail(LedgerErrorCode.ACCOUNT_REPEATED, "an account appears twice", "legs")
    totals: Counter[str] = Counter()
    for leg in legs:
        totals[leg.amount.currency] += leg.amount.amount_minor
    if any(totals.values()):
        raise _fail(LedgerErrorCode.ENTRY_UNBALANCED, "legs must sum to zero per currency", "legs")
    assert kind in _KINDS_WITH_LEGS or kind is EntryKind.POST_PENDING


def _check_ceilings(request: EntryRequest) -> None:
    """Ceilings bound accounts a posted or pending entry names in its legs, each once, with
    an integer from 0 to `AMOUNT_MINOR_MAX`: a ceiling on any other account would bound
    nothing, and silently."""
    ceilings = request.ceilings
    if isinstance(ceilings, tuple | list) and not ceilings:
        return
    accounts = {leg.account_id for leg in request.legs}
    shaped = (
        isinstance(ceilings, tuple | list)
        and request.kind in _KINDS_WITH_LEGS
        and all(
            isinstance(c, Ceiling)
            and type(c.account_id) is int
            and c.account_id in accounts
            and type(c.max_balance_minor) is int
            and 0 <= c.max_balance_minor <= AMOUNT_MINOR_MAX
            for c in ceilings
        )
        and len({c.account_id for c in ceilings}) == len(ceilings)
    )
    if not shaped:
        raise _fail(
            LedgerErrorCode.CEILINGS_INVALID,
            "ceilings are a list of Ceiling on accounts among a posted or pending entry's"
            f" legs, each once, bounded by an integer from 0 to {AMOUNT_MINOR_MAX}",
            "ceilings",
        )


def canonical_metadata(metadata: object) -> str | None:
    """Return metadata as compact sorted JSON, or None when empty; refuse what breaks limits.

    Keys are snake_case identifiers; values are strings, integers, booleans or null.
    """
    if not metadata:
        return None
    if not isinstance(metadata, Mapping) or len(metadata) > METADATA_KEYS_MAX:
        raise _fail(
            LedgerErrorCode.METADATA_INVALID,
            f"metadata is a flat object of at most {METADATA_KEYS_MAX} keys",
            "metadata",
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not _METADATA_KEY_PATTERN.fullmatch(key):
            raise _fail(LedgerErrorCode.METADATA_INVALID, f"bad metadata key {key!r}", "metadata")
        if not _is_metadata_value(value):
            raise _fail(LedgerErrorCode.METADATA_INVALID, f"bad value for {key!r}", "metadata")
    try:
        text = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        # An integer too long for Python to render (more than 4,300 digits).
        raise _fail(
            LedgerErrorCode.METADATA_INVALID, "a value cannot be rendered", "metadata"
        ) from None
    if len(text) > METADATA_CHARS_MAX:
        raise _fail(
            LedgerErrorCode.METADATA_TOO_LARGE,
            f"metadata exceeds {METADATA_CHARS_MAX} characters",
            "metadata",
        )
    return text


def _is_metadata_value(value: object) -> bool:
    """A string that UTF-8 can encode (no lone surrogate), an integer, a boolean, or null."""
    if value is None or isinstance(value, int):
        return True
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    return False
