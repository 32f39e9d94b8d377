"""Error codes are published: they may be added, never renamed or removed."""

from __future__ import annotations

from ledger.errors import LedgerError, LedgerErrorCode

# Every code the ledger has published (first release, a9b5b1e). Append new codes here.
PUBLISHED = [
    "batch_too_large",
    "batch_empty",
    "entry_id_invalid",
    "entry_id_repeated_in_batch",
    "pending_id_required",
    "pending_id_not_allowed",
    "timeout_invalid",
    "legs_too_few",
    "legs_too_many",
    "amount_invalid",
    "amount_zero",
    "amount_too_large",
    "currency_unknown",
    "account_repeated",
    "entry_unbalanced",
    "metadata_too_large",
    "metadata_invalid",
    "business_date_invalid",
    "exists_with_different_kind",
    "exists_with_different_pending_id",
    "exists_with_different_legs",
    "exists_with_different_amount",
    "exists_with_different_business_date",
    "exists_with_different_timeout",
    "exists_with_different_metadata",
    "pending_not_found",
    "pending_already_posted",
    "pending_already_voided",
    "pending_expired",
    "pending_not_expired",
    "pending_legs_mismatch",
    "pending_amount_exceeded",
    "entry_not_found",
    "entry_not_reversible",
    "entry_already_reversed",
    "account_not_found",
    "currency_mismatch",
    "account_frozen",
    "account_closed",
    "insufficient_funds",
    "balance_limit_exceeded",
    "linked_entry_failed",
    "linked_group_open",
    "account_ref_invalid",
    "account_exists_with_different_spec",
    "account_limits_invalid",
    "account_not_empty",
    "page_size_invalid",
    "cursor_invalid",
    "period_invalid",
    "contention_retries_exhausted",
    "account_coop_invalid",
    "account_kind_invalid",
    "account_status_invalid",
    "limit_invalid",
    "outcome_unknown",
    "entry_kind_invalid",
    "service_closed",
    "lock_wait_timeout",
    "legs_invalid",
    "seal_key_mismatch",
    "ceilings_invalid",
]


def test_every_published_code_still_exists_with_its_value() -> None:
    # Pinned defect: c50232a removed `entry_id_repeated_in_batch` from ledger/errors.py,
    # whose docstring says codes are never renamed, only added.
    current = {code.value for code in LedgerErrorCode}
    assert [code for code in PUBLISHED if code not in current] == []


def test_codes_are_snake_case_and_named_after_their_value() -> None:
    for code in LedgerErrorCode:
        assert code.name.lower() == code.value
        assert code.value.replace("_", "").isalpha() and code.value.islower()


def test_a_ledger_error_carries_its_code_and_field() -> None:
    error = LedgerError(LedgerErrorCode.AMOUNT_ZERO, "for people", field="legs")
    assert (error.code, error.field) == (LedgerErrorCode.AMOUNT_ZERO, "legs")
    assert error.code == "amount_zero"
