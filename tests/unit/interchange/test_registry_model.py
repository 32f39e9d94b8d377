"""The registry's pure core: validation order, normal forms, masking and derived ids."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import interchange.registry_errors as registry_errors
import interchange.registry_model as registry_model
import interchange.registry_refs as registry_refs
import interchange.registry_validation as registry_validation
import interchange.safe_text as safe_text
from interchange.criteria import MerchantCriteria
from interchange.registry_errors import RegistryError
from interchange.registry_errors import RegistryErrorCode as Code
from interchange.registry_model import (
    KycTier,
    ParticipantStatus,
    TierLimits,
    mask_name,
    tier_limits,
)
from interchange.registry_refs import (
    coop_account_ref,
    member_wallet_ref,
    merchant_wallet_ref,
    network_merchant_id,
)
from interchange.registry_validation import (
    normalise_phone,
    parse_status,
    validate_coop_spec,
    validate_member_spec,
    validate_merchant_spec,
    validate_nik,
    validate_wallet_label,
)
from ledger.account import ACCOUNT_REF_PATTERN
from tests.unit.interchange.registry_builders import (
    FORMULA,
    NIK,
    UNICODE_NAMES,
    a_coop,
    a_member,
    a_merchant,
)


def coop_error(**overrides: Any) -> tuple[Code, str | None]:
    with pytest.raises(RegistryError) as caught:
        validate_coop_spec(a_coop(**overrides))
    assert isinstance(caught.value.code, Code)
    return caught.value.code, caught.value.field


def member_error(**overrides: Any) -> tuple[Code, str | None]:
    with pytest.raises(RegistryError) as caught:
        validate_member_spec(a_member(**overrides))
    assert isinstance(caught.value.code, Code)
    return caught.value.code, caught.value.field


def merchant_error(**overrides: Any) -> tuple[Code, str | None]:
    with pytest.raises(RegistryError) as caught:
        validate_merchant_spec(a_merchant(**overrides))
    assert isinstance(caught.value.code, Code)
    return caught.value.code, caught.value.field


# Coops


def test_a_valid_coop_spec_is_returned_unchanged() -> None:
    assert validate_coop_spec(a_coop()) == a_coop()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"code": "ksp-01"}, (Code.COOP_CODE_INVALID, "code")),
        ({"code": "K"}, (Code.COOP_CODE_INVALID, "code")),
        ({"code": "K" * 17}, (Code.COOP_CODE_INVALID, "code")),
        ({"code": "KSP:01"}, (Code.COOP_CODE_INVALID, "code")),
        ({"legal_name": ""}, (Code.NAME_INVALID, "legal_name")),
        ({"legal_name": "x" * 201}, (Code.NAME_INVALID, "legal_name")),
        ({"registration_no": " AHU-1"}, (Code.REGISTRATION_NO_INVALID, "registration_no")),
        ({"registration_no": "A" * 65}, (Code.REGISTRATION_NO_INVALID, "registration_no")),
        (
            {"settlement_bank_code": "14"},
            (Code.SETTLEMENT_BANK_CODE_INVALID, "settlement_bank_code"),
        ),
        (
            {"settlement_account_no": "12-34"},
            (Code.SETTLEMENT_ACCOUNT_NO_INVALID, "settlement_account_no"),
        ),
        ({"settlement_account_name": "a\nb"}, (Code.NAME_INVALID, "settlement_account_name")),
        ({"net_debit_cap_minor": -1}, (Code.CAP_INVALID, "net_debit_cap_minor")),
        ({"net_debit_cap_minor": 10**15 + 1}, (Code.CAP_INVALID, "net_debit_cap_minor")),
        ({"net_debit_cap_minor": True}, (Code.CAP_INVALID, "net_debit_cap_minor")),
        ({"net_debit_cap_minor": 1.5}, (Code.CAP_INVALID, "net_debit_cap_minor")),
        ({"is_network": True}, (Code.CAP_INVALID, "net_debit_cap_minor")),
        ({"is_network": 1}, (Code.IS_NETWORK_INVALID, "is_network")),
        ({"is_network": "false"}, (Code.IS_NETWORK_INVALID, "is_network")),
        ({"is_network": None}, (Code.IS_NETWORK_INVALID, "is_network")),
        ({"currency": "USD"}, (Code.CURRENCY_UNSUPPORTED, "currency")),
    ],
)
def test_each_bad_coop_field_has_its_own_code(
    overrides: dict[str, Any], expected: tuple[Code, str]
) -> None:
    assert coop_error(**overrides) == expected


def test_coop_checks_run_in_field_order() -> None:
    everything_bad: dict[str, Any] = {
        "code": "",
        "legal_name": "",
        "registration_no": "",
        "settlement_bank_code": "",
        "settlement_account_no": "",
        "settlement_account_name": "",
        "net_debit_cap_minor": -1,
        "is_network": "yes",
        "currency": "XXX",
    }
    seen = []
    for name in list(everything_bad):
        seen.append(coop_error(**everything_bad)[1])
        everything_bad.pop(name)
    assert seen == [
        "code",
        "legal_name",
        "registration_no",
        "settlement_bank_code",
        "settlement_account_no",
        "settlement_account_name",
        "net_debit_cap_minor",
        "is_network",
        "currency",
    ]


# Members


def test_a_valid_member_spec_comes_back_with_its_phone_normalised() -> None:
    validated = validate_member_spec(a_member())
    assert validated.phone == "+6281234567890"
    assert validated.kyc_tier is KycTier.BASIC
    assert validated.nik == NIK


def test_member_checks_run_in_field_order() -> None:
    bad: dict[str, Any] = {
        "member_no": "",
        "name": "",
        "phone": "12",
        "nik": "1",
        "kyc_tier": "gold",
    }
    seen = []
    for name in list(bad):
        seen.append(member_error(**bad))
        bad.pop(name)
    assert seen == [
        (Code.MEMBER_NO_INVALID, "member_no"),
        (Code.NAME_INVALID, "name"),
        (Code.PHONE_INVALID, "phone"),
        (Code.NIK_INVALID, "nik"),
        (Code.KYC_TIER_INVALID, "kyc_tier"),
    ]


@pytest.mark.parametrize("member_no", ["", "-A1", "A:1", "A 1", "A" * 33, "Ā1"])
def test_refuses_a_member_number_that_cannot_be_part_of_a_ledger_ref(member_no: str) -> None:
    assert member_error(member_no=member_no) == (Code.MEMBER_NO_INVALID, "member_no")


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_accepts_names_in_any_script(name: str) -> None:
    assert validate_member_spec(a_member(name=name)).name == name


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", FORMULA, "+62 Siti", "@Siti", "-Siti-", "Robert'); --"]
)
def test_keeps_names_with_markup_or_formulas_exactly_as_given(name: str) -> None:
    assert validate_member_spec(a_member(name=name)).name == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        " Siti",
        "Siti ",
        "Siti\tAminah",
        "Siti\nAminah",
        "Siti\x00",
        "Siti\x7f",
        "Siti\u0085",
        "Siti\ud800",
        "x" * 101,
        "Siti \u202e",
        "\u2067Siti",
        "\u200b",
        "\u00ad\u0301",
    ],
)
def test_refuses_blank_padded_too_long_or_control_character_names(name: str) -> None:
    """Bidirectional embeddings, overrides and isolates are refused too (in an export
    they reorder the rest of the line), and a name with no visible character."""
    assert member_error(name=name) == (Code.NAME_INVALID, "name")


@pytest.mark.parametrize("name", ["\u0623\u062d\u0645\u062f", "Siti\u200d", "\u200fAli", "7"])
def test_names_in_any_script_with_joiners_or_marks_are_accepted(name: str) -> None:
    assert validate_member_spec(a_member(name=name)).name == name


def test_a_name_of_exactly_the_limit_is_accepted() -> None:
    assert validate_member_spec(a_member(name="x" * 100)).name == "x" * 100


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("081234567890", "+6281234567890"),
        ("0812-3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("+62.812.3456.7890", "+6281234567890"),
        ("0812345678", "+62812345678"),
        ("08123456789012", "+628123456789012"),
    ],
)
def test_normalises_indonesian_mobile_numbers_to_plus_62(raw: str, normal: str) -> None:
    assert normalise_phone(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "0812345678901234",  # 15 digits after the trunk 0
        "08123456",  # 7 digits after 08
        "6281234567890",  # no plus
        "+6221234567",  # a Jakarta landline
        "+62081234567890",  # trunk 0 after the country code
        "+1 812 3456 7890",
        "0812 3456 789x",
        "０８１２３４５６７８９０",  # full-width digits
        "0" * 40,
    ],
)
def test_refuses_what_is_not_an_indonesian_mobile_number(raw: str) -> None:
    assert member_error(phone=raw) == (Code.PHONE_INVALID, "phone")


@pytest.mark.parametrize(
    "nik",
    [
        "",
        "320123456789012",
        "32012345678901234",
        "320123456789012a",
        "３２０１２３４５６７８９０１２３",
        " 3201234567890123",
    ],
)
def test_a_nik_is_exactly_sixteen_ascii_digits(nik: str) -> None:
    with pytest.raises(RegistryError) as caught:
        validate_nik(nik)
    assert caught.value.code is Code.NIK_INVALID


def test_a_kyc_tier_may_be_given_by_its_value() -> None:
    spec = a_member(kyc_tier="verified")
    assert validate_member_spec(spec).kyc_tier is KycTier.VERIFIED


def test_member_spec_repr_never_shows_the_nik() -> None:
    assert NIK not in repr(a_member())


# Merchants


def test_merchant_checks_run_in_field_order() -> None:
    bad: dict[str, Any] = {
        "merchant_no": "toko 7",
        "name": "x" * 26,
        "city": "Kota Administrasi",
        "postal_code": "4011",
        "mcc": "541",
        "criteria": "BIG",
    }
    seen = []
    for name in list(bad):
        seen.append(merchant_error(**bad))
        bad.pop(name)
    assert seen == [
        (Code.MERCHANT_NO_INVALID, "merchant_no"),
        (Code.NAME_INVALID, "name"),
        (Code.CITY_INVALID, "city"),
        (Code.POSTAL_CODE_INVALID, "postal_code"),
        (Code.MCC_INVALID, "mcc"),
        (Code.CRITERIA_INVALID, "criteria"),
    ]


def test_a_merchant_name_of_25_and_a_city_of_15_characters_fit_a_qr_code() -> None:
    spec = a_merchant(name="W" * 25, city="C" * 15, criteria="UKE")
    validated = validate_merchant_spec(spec)
    assert validated.criteria is MerchantCriteria.UKE
    assert (validated.name, validated.city) == ("W" * 25, "C" * 15)


@pytest.mark.parametrize("merchant_no", ["", "toko", "T" * 13, "-T", "T_1"])
def test_refuses_merchant_numbers_that_do_not_fit_a_network_merchant_id(
    merchant_no: str,
) -> None:
    assert merchant_error(merchant_no=merchant_no) == (Code.MERCHANT_NO_INVALID, "merchant_no")


# Derived values


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("Siti Aminah", "S**i A****h"),
        ("Siti  Nur'aini", "S**i N******i"),
        ("王小明", "王*明"),
        ("Ñoño", "Ñ**o"),
        ("Ng", "N*"),
        ("A B", "A B"),
        ("<script>", "<******>"),
    ],
)
def test_masks_each_word_but_its_first_and_last_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_masking_counts_a_decomposed_letter_as_one_character() -> None:
    assert mask_name("N\u0303ono") == "Ñ**o"


def test_network_merchant_id_is_kn_the_padded_coop_id_and_the_merchant_number() -> None:
    assert network_merchant_id(12, "TOKO-7") == "KN000012TOKO-7"
    assert len(network_merchant_id(999_999, "M" * 12)) == 20
    assert network_merchant_id(1, "23") != network_merchant_id(12, "3")


def test_ledger_refs_fit_the_ledgers_pattern_even_at_their_longest() -> None:
    refs = [
        coop_account_ref("K" * 16, "due"),
        member_wallet_ref(2**63 - 1, "m" * 32, None, "main"),
        member_wallet_ref(1, "m1", 2**63 - 1, "s" * 32),
        merchant_wallet_ref(2**63 - 1, "M" * 12),
    ]
    for ref in refs:
        assert ACCOUNT_REF_PATTERN.fullmatch(ref), ref


def test_published_tier_limits_are_two_and_twenty_million_rupiah() -> None:
    assert tier_limits(KycTier.BASIC) == TierLimits(200_000_000, 200_000_000)
    assert tier_limits(KycTier.VERIFIED) == TierLimits(2_000_000_000, 2_000_000_000)


@pytest.mark.parametrize("label", ["", "Main", "a b", "x" * 33, "-x"])
def test_refuses_wallet_labels_outside_lowercase_identifiers(label: str) -> None:
    with pytest.raises(RegistryError) as caught:
        validate_wallet_label(label)
    assert caught.value.code is Code.WALLET_LABEL_INVALID


def test_statuses_parse_from_their_values_and_refuse_anything_else() -> None:
    assert parse_status("suspended") is ParticipantStatus.SUSPENDED
    with pytest.raises(RegistryError) as caught:
        parse_status("frozen")
    assert caught.value.code is Code.STATUS_INVALID


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
    return modules


@pytest.mark.parametrize(
    "model",
    [registry_errors, registry_model, registry_refs, registry_validation],
    ids=lambda module: module.__name__,
)
def test_the_model_is_pure_and_declares_its_public_surface(model: ModuleType) -> None:
    pure = {
        "__future__",
        "dataclasses",
        "datetime",
        "enum",
        "interchange.criteria",
        "interchange.enum_text",
        "interchange.errors",
        "interchange.registry_errors",
        "interchange.registry_model",
        "interchange.registry_validation",
        "ledger.money",
        "re",
        "typing",
        "unicodedata",
    }
    assert model.__file__ is not None
    assert imported_modules(Path(model.__file__)) <= pure
    assert set(model.__all__) <= set(dir(model))


def test_safe_text_is_pure() -> None:
    assert imported_modules(Path(safe_text.__file__)) <= {"__future__", "html"}
