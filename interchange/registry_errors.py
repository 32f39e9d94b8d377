"""Registry failures a caller causes, each with a stable code.

The codes are grouped as the registry's checks run: the shape of a request (pure
validation, `interchange.registry_validation`), what it refers to, idempotency and
uniqueness, then status changes. A code is never renamed once published.
"""

from __future__ import annotations

from enum import StrEnum

from interchange.errors import InterchangeError

__all__ = ["RegistryError", "RegistryErrorCode"]


class RegistryErrorCode(StrEnum):
    """Stable codes of registry failures, grouped as the checks run. Never renamed."""

    # Shape of a request (pure validation), in field order; `name_invalid` is shared by
    # every name field and `field` says which.
    COOP_CODE_INVALID = "coop_code_invalid"
    NAME_INVALID = "name_invalid"
    REGISTRATION_NO_INVALID = "registration_no_invalid"
    SETTLEMENT_BANK_CODE_INVALID = "settlement_bank_code_invalid"
    SETTLEMENT_ACCOUNT_NO_INVALID = "settlement_account_no_invalid"
    CAP_INVALID = "cap_invalid"
    IS_NETWORK_INVALID = "is_network_invalid"
    CURRENCY_UNSUPPORTED = "currency_unsupported"
    MEMBER_NO_INVALID = "member_no_invalid"
    PHONE_INVALID = "phone_invalid"
    NIK_INVALID = "nik_invalid"
    KYC_TIER_INVALID = "kyc_tier_invalid"
    MERCHANT_NO_INVALID = "merchant_no_invalid"
    CITY_INVALID = "city_invalid"
    POSTAL_CODE_INVALID = "postal_code_invalid"
    MCC_INVALID = "mcc_invalid"
    CRITERIA_INVALID = "criteria_invalid"
    WALLET_LABEL_INVALID = "wallet_label_invalid"
    STATUS_INVALID = "status_invalid"
    # What the request refers to.
    COOP_NOT_FOUND = "coop_not_found"
    NETWORK_NOT_REGISTERED = "network_not_registered"
    MEMBER_NOT_FOUND = "member_not_found"
    MERCHANT_NOT_FOUND = "merchant_not_found"
    COOP_NOT_ACTIVE = "coop_not_active"
    MEMBER_NOT_ACTIVE = "member_not_active"
    # Idempotency and uniqueness.
    COOP_EXISTS_WITH_DIFFERENT_SPEC = "coop_exists_with_different_spec"
    COOP_REGISTRATION_NO_TAKEN = "coop_registration_no_taken"
    NETWORK_COOP_EXISTS = "network_coop_exists"
    # Every coop id that fits a network merchant id (`COOP_ID_MAX`) is taken or was drawn
    # by a registration that failed.
    COOP_IDS_EXHAUSTED = "coop_ids_exhausted"
    MEMBER_EXISTS_WITH_DIFFERENT_SPEC = "member_exists_with_different_spec"
    NIK_ALREADY_REGISTERED = "nik_already_registered"
    MERCHANT_EXISTS_WITH_DIFFERENT_SPEC = "merchant_exists_with_different_spec"
    # Status changes.
    STATUS_TRANSITION_INVALID = "status_transition_invalid"
    WALLET_NOT_EMPTY = "wallet_not_empty"
    COOP_NOT_EMPTY = "coop_not_empty"
    COOP_HAS_OPEN_POSITION = "coop_has_open_position"
    # Operations.
    BATCH_SIZE_INVALID = "batch_size_invalid"


class RegistryError(InterchangeError):
    """A registry failure the caller caused; `code` is a `RegistryErrorCode`."""
