"""Errors a caller of the ledger can cause or must act on, each with a stable machine code.

Codes are published: never rename one, only add. Programmer errors are `assert`s, not
these. `LedgerErrorCode` lists the codes in the order the checks run, so that the first
failure of a request is deterministic: the request's shape (`ledger.validation`), then
what the planner documents (`ledger.planner`): the target, idempotency, the accounts, the
limits, the linked group. The codes after those are the database's and the service's, not
a check of the request: any request that passed the shape checks can meet them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["IDEMPOTENCY_CONFLICTS", "LedgerError", "LedgerErrorCode"]


class LedgerErrorCode(StrEnum):
    """Stable result codes, in the order the checks run."""

    # Shape of the request, checked without the database (ledger.validation).
    BATCH_TOO_LARGE = "batch_too_large"
    BATCH_EMPTY = "batch_empty"
    # Also, for a new entry only and after idempotency, an id of the sweeper's (`expire-`).
    ENTRY_ID_INVALID = "entry_id_invalid"
    # Published in the first release; no longer returned since an id repeated within a
    # batch replays or conflicts like any other. Kept because codes are never removed.
    ENTRY_ID_REPEATED_IN_BATCH = "entry_id_repeated_in_batch"
    # A kind that is not an `EntryKind` (its text, "posted", included).
    ENTRY_KIND_INVALID = "entry_kind_invalid"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_ID_NOT_ALLOWED = "pending_id_not_allowed"
    TIMEOUT_INVALID = "timeout_invalid"
    # Legs that are not a list or tuple of `Leg`s, each an integer account id (not a bool
    # or a float) and a `Money` amount.
    LEGS_INVALID = "legs_invalid"
    LEGS_TOO_FEW = "legs_too_few"
    LEGS_TOO_MANY = "legs_too_many"
    AMOUNT_INVALID = "amount_invalid"
    AMOUNT_ZERO = "amount_zero"
    AMOUNT_TOO_LARGE = "amount_too_large"
    CURRENCY_UNKNOWN = "currency_unknown"
    ACCOUNT_REPEATED = "account_repeated"
    ENTRY_UNBALANCED = "entry_unbalanced"
    # Ceilings that are not a list or tuple of `Ceiling`s, each on an account among the
    # legs of a posted or pending entry, once, with an integer bound from 0 to 10^15.
    CEILINGS_INVALID = "ceilings_invalid"
    # Metadata's form is checked before its rendered size.
    METADATA_INVALID = "metadata_invalid"
    METADATA_TOO_LARGE = "metadata_too_large"
    BUSINESS_DATE_INVALID = "business_date_invalid"
    # The entry a resolution or reversal refers to.
    PENDING_NOT_FOUND = "pending_not_found"
    PENDING_ALREADY_POSTED = "pending_already_posted"
    PENDING_ALREADY_VOIDED = "pending_already_voided"
    PENDING_EXPIRED = "pending_expired"
    PENDING_NOT_EXPIRED = "pending_not_expired"
    PENDING_LEGS_MISMATCH = "pending_legs_mismatch"
    PENDING_AMOUNT_EXCEEDED = "pending_amount_exceeded"
    ENTRY_NOT_FOUND = "entry_not_found"
    ENTRY_NOT_REVERSIBLE = "entry_not_reversible"
    ENTRY_ALREADY_REVERSED = "entry_already_reversed"
    # Idempotency: the id exists already with a different request.
    EXISTS_WITH_DIFFERENT_KIND = "exists_with_different_kind"
    EXISTS_WITH_DIFFERENT_PENDING_ID = "exists_with_different_pending_id"
    EXISTS_WITH_DIFFERENT_LEGS = "exists_with_different_legs"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS_WITH_DIFFERENT_BUSINESS_DATE = "exists_with_different_business_date"
    EXISTS_WITH_DIFFERENT_TIMEOUT = "exists_with_different_timeout"
    EXISTS_WITH_DIFFERENT_METADATA = "exists_with_different_metadata"
    # Accounts, checked leg by leg in the order the legs were given.
    ACCOUNT_NOT_FOUND = "account_not_found"
    CURRENCY_MISMATCH = "currency_mismatch"
    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_FROZEN = "account_frozen"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BALANCE_LIMIT_EXCEEDED = "balance_limit_exceeded"
    # A linked (all-or-nothing) group in which another member failed.
    LINKED_ENTRY_FAILED = "linked_entry_failed"
    LINKED_GROUP_OPEN = "linked_group_open"
    # Accounts: opening and changing.
    ACCOUNT_REF_INVALID = "account_ref_invalid"
    ACCOUNT_COOP_INVALID = "account_coop_invalid"
    ACCOUNT_KIND_INVALID = "account_kind_invalid"
    ACCOUNT_EXISTS_WITH_DIFFERENT_SPEC = "account_exists_with_different_spec"
    ACCOUNT_LIMITS_INVALID = "account_limits_invalid"
    ACCOUNT_STATUS_INVALID = "account_status_invalid"
    ACCOUNT_NOT_EMPTY = "account_not_empty"
    # Queries.
    PAGE_SIZE_INVALID = "page_size_invalid"
    CURSOR_INVALID = "cursor_invalid"
    PERIOD_INVALID = "period_invalid"
    # Operations.
    LIMIT_INVALID = "limit_invalid"
    # The database stayed busy through every bounded retry.
    CONTENTION_RETRIES_EXHAUSTED = "contention_retries_exhausted"
    # A row the request needs stayed locked by another transaction past the session's
    # lock_timeout (`ledger.db.make_engine`): nothing was recorded and kopnet did not retry
    # (`ledger.db.run_transaction`); sent again later with the same id, it is recorded once.
    LOCK_WAIT_TIMEOUT = "lock_wait_timeout"
    # The service was closed: the request was refused before anything was recorded, and
    # nothing will be.
    SERVICE_CLOSED = "service_closed"
    # No answer within the caller's bounded wait: not a refusal, the request may yet be
    # recorded. Sent again with the same id, it is recorded once, or replayed.
    OUTCOME_UNKNOWN = "outcome_unknown"
    # The sealing key is not the one this database's digests and chain were written with
    # (`ledger.seal_key`): refused before anything is written or sealed under it.
    SEAL_KEY_MISMATCH = "seal_key_mismatch"


# The codes of a request whose id is recorded already, with another request.
IDEMPOTENCY_CONFLICTS = frozenset(
    {
        LedgerErrorCode.EXISTS_WITH_DIFFERENT_KIND,
        LedgerErrorCode.EXISTS_WITH_DIFFERENT_PENDING_ID,
        LedgerErrorCode.EXISTS_WITH_DIFFERENT_LEGS,
        LedgerErrorCode.EXISTS_WITH_DIFFERENT_AMOUNT,
        LedgerErrorCode.EXISTS_WITH_DIFFERENT_BUSINESS_DATE,
        LedgerErrorCode.EXISTS_WITH_DIFFERENT_TIMEOUT,
        LedgerErrorCode.EXISTS_WITH_DIFFERENT_METADATA,
    }
)


class LedgerError(Exception):
    """A failure the caller caused or can act on; `code` is stable, `message` is for people.

    `field` names the request field at fault; `account_id` the account whose state refused
    the request (limits, status), when one did.
    """

    def __init__(
        self,
        code: LedgerErrorCode,
        message: str,
        *,
        field: str | None = None,
        account_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.account_id = account_id

    def __repr__(self) -> str:
        return f"LedgerError({self.code.value!r}, {self.message!r})"
