"""Builders for registry tests: valid specs with readable defaults, overridable by field,
and keys written as an operator writes them in `KOPNET_NIK_KEYS`."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from interchange.criteria import MerchantCriteria
from interchange.registry_model import CoopSpec, MemberSpec, MerchantSpec

__all__ = [
    "FORMULA",
    "NIK",
    "UNICODE_NAMES",
    "a_coop",
    "a_member",
    "a_merchant",
    "b64",
    "the_network",
]

NIK = "3201234567890123"
FORMULA = '=HYPERLINK("http://evil.example","x")'
UNICODE_NAMES = ["Siti Nur'aini", "Ñoño", "王小明", "Nguyễn Thị Minh Khai", "أحمد"]


def a_coop(**overrides: Any) -> CoopSpec:
    """A valid coop spec (code KSP-01); registration numbers follow the code by default."""
    code = overrides.get("code", "KSP-01")
    spec = CoopSpec(
        code=code,
        legal_name="Koperasi Simpan Pinjam Sejahtera",
        registration_no=f"AHU-{code}.AH.01.26.TAHUN 2020",
        settlement_bank_code="014",
        settlement_account_no="1234567890",
        settlement_account_name="KSP Sejahtera",
        net_debit_cap_minor=1_000_000_000,
    )
    return replace(spec, **overrides)


def the_network() -> CoopSpec:
    """The network operator's spec (code KOPNET, no net debit cap)."""
    return a_coop(code="KOPNET", net_debit_cap_minor=0, is_network=True)


def a_member(**overrides: Any) -> MemberSpec:
    """A valid basic-tier member spec of coop 1."""
    spec = MemberSpec(
        coop_id=1, member_no="A-001", name="Siti Aminah", phone="0812-3456-7890", nik=NIK
    )
    return replace(spec, **overrides)


def a_merchant(**overrides: Any) -> MerchantSpec:
    """A valid micro merchant spec of coop 1."""
    spec = MerchantSpec(
        coop_id=1,
        merchant_no="TOKO-7",
        name="Warung Bu Siti",
        city="Bandung",
        postal_code="40111",
        mcc="5411",
        criteria=MerchantCriteria.UMI,
    )
    return replace(spec, **overrides)


def b64(key: bytes) -> str:
    """A key in base64, as `KOPNET_NIK_KEYS` gives it."""
    return base64.b64encode(key).decode()
