"""An enumeration's member named by its text (`interchange.enum_text`), pure."""

from __future__ import annotations

import pytest

from interchange.criteria import MerchantCriteria
from interchange.enum_text import enum_member
from interchange.fee_schedule import PaymentType


def test_a_member_is_itself_and_its_text_names_it() -> None:
    assert enum_member(MerchantCriteria, MerchantCriteria.UMI) is MerchantCriteria.UMI
    assert enum_member(MerchantCriteria, "UMI") is MerchantCriteria.UMI
    assert enum_member(PaymentType, "cash_in") is PaymentType.CASH_IN


@pytest.mark.parametrize(
    "value", ["umi", "micro", "", " UMI", None, 1, b"UMI", PaymentType.CASH_IN]
)
def test_anything_else_names_no_member(value: object) -> None:
    assert enum_member(MerchantCriteria, value) is None
