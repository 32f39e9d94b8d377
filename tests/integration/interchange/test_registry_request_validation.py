"""What a caller sends the registry, on both engines, is not found or refused with a code,
never an exception of the driver or of Python.

Ids no row can have (2**63 and above: every id column is a 64-bit integer) are simply not
found, in lookups, status changes and registrations alike; a coop code or merchant network
id with a NUL or a lone surrogate (every stored one is printable ASCII) is
`coop_not_found` / `merchant_not_found`; a NIK that is not sixteen ASCII digits is
`nik_invalid` wherever it is given. Unknown participants named by plausible ids are
covered with the rest of registration in `test_registry.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from interchange.registry import Registry
from interchange.registry_model import Coop
from tests.network import ID_BEYOND_BIGINT
from tests.outcomes import outcome_of
from tests.unit.interchange.registry_builders import NIK, a_member, a_merchant


def _beyond_bigint_calls(registry: Registry, coop: Coop) -> dict[str, Callable[[], object]]:
    big = ID_BEYOND_BIGINT
    return {
        "coop": lambda: registry.coop(big),
        "set_coop_status": lambda: registry.set_coop_status(big, "suspended"),
        "member": lambda: registry.member(big, viewer_coop_id=coop.id),
        "member_wallets": lambda: registry.member_wallets(big),
        "open_member_wallet": lambda: registry.open_member_wallet(big, "savings"),
        "set_member_status": lambda: registry.set_member_status(big, "suspended"),
        "merchant": lambda: registry.merchant(big),
        "set_merchant_status": lambda: registry.set_merchant_status(big, "suspended"),
        "register_member": lambda: registry.register_member(a_member(coop_id=big)),
        "register_merchant": lambda: registry.register_merchant(a_merchant(coop_id=big)),
        "find_member_by_nik": lambda: registry.find_member_by_nik(big, NIK),
    }


def test_an_id_beyond_bigint_is_simply_not_found(registry: Registry, coop: Coop) -> None:
    """Every registry call given an id of 2**63 or more (a caller-controlled integer) ends
    in a code, as an unknown id does, never in the driver: not psycopg's DataError
    (NumericValueOutOfRange, "bigint out of range") on PostgreSQL nor OverflowError on
    SQLite. Ids are checked against the range a row can have before any query."""
    outcomes = {
        name: outcome_of(call) for name, call in _beyond_bigint_calls(registry, coop).items()
    }
    unexpected = {name: o for name, o in outcomes.items() if o.startswith("unexpected:")}
    assert unexpected == {}


@pytest.mark.parametrize("text", ["KSP\x00-01", "KSP\ud800"], ids=["nul", "lone-surrogate"])
def test_a_lookup_by_text_no_participant_can_have_is_not_found(
    registry: Registry, coop: Coop, text: str
) -> None:
    """Looking a coop up by code, or a merchant by the network id a scanned QR code
    carries, with a NUL or a lone surrogate is `coop_not_found` / `merchant_not_found`:
    every stored code and id is printable ASCII, so such text is never sent to the driver
    (psycopg's DataError "cannot contain NUL" on PostgreSQL, UnicodeEncodeError on both
    engines)."""
    outcomes = {
        "coop_by_code": outcome_of(lambda: registry.coop_by_code(text)),
        "merchant_by_network_id": outcome_of(lambda: registry.merchant_by_network_id(text)),
    }
    assert outcomes == {
        "coop_by_code": "code:coop_not_found",
        "merchant_by_network_id": "code:merchant_not_found",
    }


@pytest.mark.parametrize(
    "nik",
    [
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦",  # Arabic-Indic digits: str.isdigit() is True for these
        "3201234567890123\n",
        "3201234567890123 ",
        "\u20073201234567890123",
        "32012345678901²3",
        "+201234567890123",
        3201234567890123,
        None,
    ],
    ids=[
        "arabic-indic",
        "newline",
        "trailing-space",
        "figure-space",
        "superscript",
        "sign",
        "int",
        "none",
    ],
)
def test_a_nik_that_is_not_sixteen_ascii_digits_is_refused_everywhere(
    registry: Registry, coop: Coop, nik: object
) -> None:
    registry.register_member(a_member(coop_id=coop.id))
    calls: dict[str, Callable[[], object]] = {
        "register": lambda: registry.register_member(
            a_member(coop_id=coop.id, member_no="B-1", nik=nik)
        ),
        "find": lambda: registry.find_member_by_nik(coop.id, nik),  # type: ignore[arg-type]
    }
    outcomes = {name: outcome_of(call) for name, call in calls.items()}
    assert outcomes == {"register": "code:nik_invalid", "find": "code:nik_invalid"}
