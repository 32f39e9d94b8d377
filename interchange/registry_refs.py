"""Identifiers derived from participants: network merchant ids and ledger account refs.

A network merchant id is what a merchant's QR codes carry; distinct (coop, merchant_no)
pairs give distinct ids. The refs name the ledger accounts of coops, members' wallets and
merchants' wallets; opening an account (`ledger.service.open_account_in`) is idempotent
by ref. Pure.
"""

from __future__ import annotations

from interchange.registry_validation import MERCHANT_NO_RE

__all__ = [
    "COOP_ID_DIGITS",
    "COOP_ID_MAX",
    "MAIN_WALLET_LABEL",
    "coop_account_ref",
    "member_wallet_ref",
    "merchant_wallet_ref",
    "network_merchant_id",
    "network_share_ref",
]

MAIN_WALLET_LABEL = "main"
# The coop id is zero-padded to this many digits inside a network merchant id.
COOP_ID_DIGITS = 6
COOP_ID_MAX = 10**COOP_ID_DIGITS - 1


def network_merchant_id(coop_id: int, merchant_no: str) -> str:
    """Return the merchant's id in QR codes: "KN", the coop id in 6 digits, the merchant no.

    Coop 12's merchant "TOKO-7" is "KN000012TOKO-7". The coop part has a fixed width, so
    distinct (coop, merchant_no) pairs give distinct ids; the result has at most 20
    characters and is an ASCII QR identifier.
    """
    assert 1 <= coop_id <= COOP_ID_MAX, "coop ids above 999999 do not fit a merchant id"
    assert MERCHANT_NO_RE.fullmatch(merchant_no), "merchant_no must be validated first"
    result = f"KN{coop_id:0{COOP_ID_DIGITS}d}{merchant_no}"
    assert len(result) <= 20
    return result


def coop_account_ref(code: str, purpose: str) -> str:
    """Ledger ref of a coop account: `coop:{code}:{purpose}` (cash, fee or due)."""
    assert purpose in ("cash", "fee", "due")
    return f"coop:{code}:{purpose}"


def network_share_ref(code: str, purpose: str) -> str:
    """Ledger ref of the network's account for coop `code`'s payments (fee or due)."""
    assert purpose in ("fee", "due")
    return f"network:{code}:{purpose}"


def member_wallet_ref(coop_id: int, member_no: str, member_id: int | None, label: str) -> str:
    """Ledger ref of a member wallet.

    The main wallet is `member:{coop_id}:{member_no}:main` (opened before the member row
    exists, so it cannot use the member id); other wallets are `wallet:{member_id}:{label}`,
    which always fits the ledger's 64 characters.
    """
    if label == MAIN_WALLET_LABEL:
        return f"member:{coop_id}:{member_no}:{MAIN_WALLET_LABEL}"
    assert member_id is not None, "extra wallets are opened for an existing member"
    return f"wallet:{member_id}:{label}"


def merchant_wallet_ref(coop_id: int, merchant_no: str) -> str:
    """Ledger ref of a merchant's wallet: `merchant:{coop_id}:{merchant_no}`."""
    return f"merchant:{coop_id}:{merchant_no}"
