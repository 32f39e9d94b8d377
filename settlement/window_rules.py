"""The life of a settlement window, as pure rules: states, steps, and who may take them.

    (open) --close--> closed --start--> settling --confirm all--> settled
                        ^                   |
                        +------abort--------+   (only before any payment is booked)

"Open" is not stored: a window is open until it is closed. Closing is allowed once the
window's cut-off has passed; starting needs the close's recomputation check to have
passed. Error codes are stable; checks run in the order the functions below list them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum

from ledger.validation import BUSINESS_DATE_MAX, BUSINESS_DATE_MIN
from settlement.errors import SettlementError

__all__ = [
    "ACTOR_PATTERN",
    "SettlementErrorCode",
    "WindowError",
    "WindowStatus",
    "require_actor",
    "require_bank_reference",
    "require_can_abort",
    "require_can_start",
    "require_due",
    "require_window_date",
]

ACTOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
BANK_REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./ -]{0,63}$")


class WindowStatus(StrEnum):
    """Stored states of a window."""

    CLOSED = "closed"
    SETTLING = "settling"
    SETTLED = "settled"


class SettlementErrorCode(StrEnum):
    """Stable codes of the settlement workflow."""

    ACTOR_INVALID = "actor_invalid"
    WINDOW_NOT_DUE = "window_not_due"
    WINDOW_DATE_INVALID = "window_date_invalid"
    WINDOW_NOT_CLOSED = "window_not_closed"
    WINDOW_NOT_SETTLING = "window_not_settling"
    WINDOW_SETTLED = "window_settled"
    WINDOW_RECOMPUTE_FAILED = "window_recompute_failed"
    WINDOW_HAS_CONFIRMATIONS = "window_has_confirmations"
    INSTRUCTION_NOT_FOUND = "instruction_not_found"
    INSTRUCTION_NOT_PENDING = "instruction_not_pending"
    INSTRUCTION_ALREADY_CONFIRMED = "instruction_already_confirmed"
    INSTRUCTION_AMOUNT_MISMATCH = "instruction_amount_mismatch"
    INSTRUCTION_AMOUNT_INVALID = "instruction_amount_invalid"
    BANK_REFERENCE_INVALID = "bank_reference_invalid"
    REPORT_COOP_NOT_FOUND = "report_coop_not_found"


class WindowError(SettlementError):
    """A settlement step the caller may not take now; nothing changed."""


def require_actor(actor: str) -> str:
    """Return `actor` (who takes the step) if it is a well-formed name."""
    if not isinstance(actor, str) or not ACTOR_PATTERN.fullmatch(actor):
        raise WindowError(
            SettlementErrorCode.ACTOR_INVALID, "actor: 1-64 of [A-Za-z0-9._@:-]", field="actor"
        )
    return actor


def require_bank_reference(reference: str) -> str:
    """Return the bank's reference for a payment if it is well-formed."""
    if not isinstance(reference, str) or not BANK_REFERENCE_PATTERN.fullmatch(reference):
        raise WindowError(
            SettlementErrorCode.BANK_REFERENCE_INVALID,
            "bank reference: 1-64 of [A-Za-z0-9./ -]",
            field="bank_reference",
        )
    return reference


def require_window_date(window_date: date) -> date:
    """Return `window_date` if a payment can have it: a date (not a datetime) among the
    ledger's business dates."""
    if type(window_date) is not date or not BUSINESS_DATE_MIN <= window_date <= BUSINESS_DATE_MAX:
        raise WindowError(
            SettlementErrorCode.WINDOW_DATE_INVALID,
            f"windows are dated {BUSINESS_DATE_MIN} to {BUSINESS_DATE_MAX}",
            field="window_date",
        )
    return window_date


def require_due(now: datetime, cutoff_at: datetime) -> None:
    """A window may be closed only once its cut-off has passed."""
    if now < cutoff_at:
        raise WindowError(
            SettlementErrorCode.WINDOW_NOT_DUE, f"the window closes at {cutoff_at.isoformat()}"
        )


def require_can_start(status: WindowStatus | None, recompute_ok: bool | None) -> None:
    """Settlement starts from a closed window whose positions recomputed correctly."""
    if status is None:
        raise WindowError(SettlementErrorCode.WINDOW_NOT_CLOSED, "close the window first")
    if status is WindowStatus.SETTLED:
        raise WindowError(SettlementErrorCode.WINDOW_SETTLED, "the window is settled")
    if status is WindowStatus.SETTLING:
        raise WindowError(SettlementErrorCode.WINDOW_NOT_CLOSED, "settlement already started")
    if recompute_ok is not True:
        raise WindowError(
            SettlementErrorCode.WINDOW_RECOMPUTE_FAILED,
            "positions do not match the ledger; settlement refused",
        )


def require_can_abort(status: WindowStatus | None, confirmed_count: int) -> None:
    """Abort returns a settling window to closed, before any payment is booked."""
    if status is not WindowStatus.SETTLING:
        raise WindowError(SettlementErrorCode.WINDOW_NOT_SETTLING, "nothing to abort")
    if confirmed_count:
        raise WindowError(
            SettlementErrorCode.WINDOW_HAS_CONFIRMATIONS,
            "payments are already booked; settle the rest instead",
        )
