"""QRIS merchant criteria: the one enumeration that QR codes, fees and the registry share.

UMI micro, UKE small, UME medium, UBE large, URE regular (non-business). The value is what
a QR payload carries in its merchant account template.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MerchantCriteria"]


class MerchantCriteria(StrEnum):
    """QRIS merchant criteria: micro, small, medium, large, and regular (non-business)."""

    UMI = "UMI"
    UKE = "UKE"
    UME = "UME"
    UBE = "UBE"
    URE = "URE"
