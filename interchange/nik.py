"""The NIK vault: members' national identity numbers encrypted at rest, searchable by hash.

A NIK is encrypted with AES-256-GCM under the current key. The token is the URL-safe
base64 of the 96-bit random nonce followed by the ciphertext and its 128-bit tag; the key
id is stored beside it and bound to the ciphertext as associated data, so a token moved to
another key id fails to decrypt instead of decrypting under the wrong assumption. Older
keys stay in the vault for decryption until every row is re-encrypted (`needs_rotation`).

Equality search never decrypts: `lookup_hash` is HMAC-SHA256 of the NIK under a separate
lookup key. A NIK has few possible values, so without that key the hash could be brute
forced; with it, the hash reveals only which rows share a NIK. The lookup key cannot be
rotated without recomputing every hash, so it is kept apart from the encryption keys.

A database records a fingerprint of each key it has seen (`fingerprints`: HMAC-SHA256 of
a fixed text under the key, which reveals nothing of the key), so that a vault whose key
differs from the one a key id (or the lookup key) stood for is refused as
`nik_key_mismatch` (`check_fingerprints`) before it writes a NIK no other process can read
or misses a NIK already taken.

Invariants: every key is 32 bytes, key ids are 1-16 of [A-Za-z0-9_-], the current key is
in the vault, and the lookup key differs from every encryption key. The vault's `repr`
names key ids only. Encryption draws a random nonce, so this module is not pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from interchange.errors import InterchangeError
from interchange.registry_validation import validate_nik

__all__ = [
    "DEVELOPMENT_KEY_ID",
    "KEY_BYTES",
    "LOOKUP_KEY_NAME",
    "NikVault",
    "NikVaultError",
    "NikVaultErrorCode",
]

KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_NIK_BYTES = 16
_TOKEN_BYTES = _NONCE_BYTES + _NIK_BYTES + _TAG_BYTES
_KEYS_MAX = 16
_SETTING_CHARS_MAX = 4096
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,128}={0,2}")
_AAD_PREFIX = b"kopnet.nik.v1:"
_FINGERPRINT_TEXT = b"kopnet nik key check v1"
# The name the lookup key's fingerprint is recorded under: never a key id, as ':' is not
# allowed in one.
LOOKUP_KEY_NAME = ":lookup"

DEVELOPMENT_KEY_ID = "dev1"
# Public, fixed keys so that a development database stays readable across restarts.
# They protect nothing; a production composition root must refuse them (`is_development`).
_DEVELOPMENT_KEY = b"kopnet-dev-nik-key-NOT-SECRET-01"
_DEVELOPMENT_LOOKUP_KEY = b"kopnet-dev-nik-lookup-NOT-SECRET"


class NikVaultErrorCode(StrEnum):
    """Stable codes of vault failures. Never renamed."""

    NIK_VAULT_SETTING_INVALID = "nik_vault_setting_invalid"
    NIK_KEY_UNKNOWN = "nik_key_unknown"
    NIK_TOKEN_INVALID = "nik_token_invalid"  # noqa: S105 - an error code, not a secret
    NIK_KEY_MISMATCH = "nik_key_mismatch"


class NikVaultError(InterchangeError):
    """A vault failure: a bad key setting, an unknown key id, a key that is not the one
    the database knows under its name, or a tampered token."""


class NikVault:
    """Encrypts and decrypts NIKs under named AES-256-GCM keys; hashes them for lookup."""

    __slots__ = ("_ciphers", "_current_key_id", "_keys", "_lookup_key")

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str, lookup_key: bytes) -> None:
        _check_keys(keys, current_key_id, lookup_key)
        self._keys = MappingProxyType(dict(keys))
        self._current_key_id = current_key_id
        self._lookup_key = bytes(lookup_key)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @classmethod
    def from_setting(cls, text: str) -> NikVault:
        """Build a vault from a setting such as "k2:BASE64,k1:BASE64;lookup:BASE64".

        Format: comma-separated `key_id:key` pairs, the first being the current key, then
        ";lookup:" and the lookup key. Keys are 32 bytes in standard or URL-safe base64;
        whitespace around parts is ignored. Key ids are 1-16 of [A-Za-z0-9_-].
        """
        if len(text) > _SETTING_CHARS_MAX or text.count(";") != 1:
            raise _setting_invalid("expected 'id:key,...;lookup:key'")
        key_part, lookup_part = (part.strip() for part in text.split(";"))
        pairs = [_parse_pair(item) for item in key_part.split(",")]
        lookup_id, lookup_key = _parse_pair(lookup_part)
        if lookup_id != "lookup":
            raise _setting_invalid("the part after ';' must be 'lookup:key'")
        keys = dict(pairs)
        if len(keys) != len(pairs):
            raise _setting_invalid("a key id appears twice")
        return cls(keys, pairs[0][0], lookup_key)

    @classmethod
    def development(cls) -> NikVault:
        """A vault with fixed, public development keys (key id "dev1"). Never in production."""
        return cls(
            {DEVELOPMENT_KEY_ID: _DEVELOPMENT_KEY}, DEVELOPMENT_KEY_ID, _DEVELOPMENT_LOOKUP_KEY
        )

    def with_current_key(self, key_id: str, key: bytes) -> NikVault:
        """A vault that encrypts under a new current key and still decrypts under the old."""
        if key_id in self._keys:
            raise _setting_invalid(f"key id {key_id!r} is in the vault already")
        return NikVault({key_id: key, **self._keys}, key_id, self._lookup_key)

    @property
    def current_key_id(self) -> str:
        """The id of the key new ciphertexts are made with."""
        return self._current_key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys the vault decrypts with, sorted."""
        return tuple(sorted(self._keys))

    @property
    def is_development(self) -> bool:
        """True when any key is one of the public development keys."""
        public = (_DEVELOPMENT_KEY, _DEVELOPMENT_LOOKUP_KEY)
        return self._lookup_key in public or any(k in public for k in self._keys.values())

    def __repr__(self) -> str:
        return f"NikVault(key_ids={sorted(self._keys)!r}, current={self._current_key_id!r})"

    def encrypt(self, nik: str) -> tuple[str, str]:
        """Return (key_id, token) for `nik` under the current key, with a fresh nonce."""
        validate_nik(nik)
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self._current_key_id
        sealed = self._ciphers[key_id].encrypt(nonce, nik.encode("ascii"), _aad(key_id))
        return key_id, base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, key_id: str, token: str) -> str:
        """Return the NIK in `token`; raise `nik_key_unknown` or `nik_token_invalid`."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise NikVaultError(
                NikVaultErrorCode.NIK_KEY_UNKNOWN, f"no key {key_id!r}", field="key_id"
            )
        raw = _decode_token(token)
        try:
            plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(key_id))
        except InvalidTag:
            raise _token_invalid("the token does not authenticate") from None
        nik = plain.decode("ascii")
        assert len(nik) == _NIK_BYTES and nik.isdigit(), "only NIKs are ever encrypted"
        return nik

    def lookup_hash(self, nik: str) -> str:
        """Return the hex HMAC-SHA256 of `nik` under the lookup key, for equality search."""
        validate_nik(nik)
        return hmac.new(self._lookup_key, nik.encode("ascii"), hashlib.sha256).hexdigest()

    def needs_rotation(self, key_id: str) -> bool:
        """True when a ciphertext under `key_id` should be re-encrypted with the current key."""
        return key_id != self._current_key_id

    def fingerprints(self) -> dict[str, str]:
        """The hex fingerprint of each key by its id, and of the lookup key by
        `LOOKUP_KEY_NAME`: HMAC-SHA256 of a fixed text under the key."""
        named = {**self._keys, LOOKUP_KEY_NAME: self._lookup_key}
        assert len(named) == len(self._keys) + 1, "no key id is the lookup key's name"
        return {name: _fingerprint(key) for name, key in sorted(named.items())}

    def check_fingerprints(self, recorded: Mapping[str, str]) -> None:
        """Raise `nik_key_mismatch`, naming every key whose fingerprint differs from the
        one `recorded` under its name (the lookup key first); a name not recorded passes."""
        own = self.fingerprints()
        wrong = [
            name
            for name, fingerprint in own.items()
            if recorded.get(name) not in (None, fingerprint)
        ]
        if not wrong:
            return
        shown = ", ".join(
            "the lookup key" if name == LOOKUP_KEY_NAME else f"key id {name!r}"
            for name in sorted(wrong, key=lambda name: name != LOOKUP_KEY_NAME)
        )
        message = (
            f"not the keys this database's NIKs were written with: {shown}"
            " (check KOPNET_NIK_KEYS; a key id keeps its key for good)"
        )
        raise NikVaultError(NikVaultErrorCode.NIK_KEY_MISMATCH, message, field="keys")


def _aad(key_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode("ascii")


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, _FINGERPRINT_TEXT, hashlib.sha256).hexdigest()


def _decode_token(token: str) -> bytes:
    if not isinstance(token, str) or _TOKEN_RE.fullmatch(token) is None:
        raise _token_invalid("the token is not URL-safe base64 of the right size")
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        raise _token_invalid("the token is not URL-safe base64") from None
    if len(raw) != _TOKEN_BYTES:
        raise _token_invalid("the token has the wrong length")
    return raw


def _check_keys(keys: Mapping[str, bytes], current_key_id: str, lookup_key: bytes) -> None:
    if not 1 <= len(keys) <= _KEYS_MAX:
        raise _setting_invalid(f"between 1 and {_KEYS_MAX} keys are needed")
    for key_id, key in keys.items():
        if not isinstance(key_id, str) or _KEY_ID_RE.fullmatch(key_id) is None:
            raise _setting_invalid("a key id must be 1-16 of [A-Za-z0-9_-]")
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise _setting_invalid(f"key {key_id!r} must be {KEY_BYTES} bytes")
    if current_key_id not in keys:
        raise _setting_invalid("the current key id is not among the keys")
    if not isinstance(lookup_key, bytes) or len(lookup_key) != KEY_BYTES:
        raise _setting_invalid(f"the lookup key must be {KEY_BYTES} bytes")
    if lookup_key in keys.values():
        raise _setting_invalid("the lookup key must differ from every encryption key")


def _parse_pair(item: str) -> tuple[str, bytes]:
    key_id, sep, encoded = item.strip().partition(":")
    if not sep:
        raise _setting_invalid("each key must be written 'id:base64'")
    standard = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        return key_id.strip(), base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise _setting_invalid(f"the key of {_shown_id(key_id.strip())} is not base64") from None


def _shown_id(key_id: str) -> str:
    """A key id as a message may show it: only one of the form ids have, since the text
    before a ':' may be a key itself (id and key swapped)."""
    return f"key id {key_id!r}" if _KEY_ID_RE.fullmatch(key_id) else "an entry"


def _setting_invalid(message: str) -> NikVaultError:
    return NikVaultError(NikVaultErrorCode.NIK_VAULT_SETTING_INVALID, message, field="keys")


def _token_invalid(message: str) -> NikVaultError:
    return NikVaultError(NikVaultErrorCode.NIK_TOKEN_INVALID, message, field="token")
