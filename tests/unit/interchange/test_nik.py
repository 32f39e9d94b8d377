"""The NIK vault: encryption round trips, tampering, unknown keys, lookup hashes, settings."""

from __future__ import annotations

import base64

import pytest

from interchange.nik import (
    DEVELOPMENT_KEY_ID,
    LOOKUP_KEY_NAME,
    NikVault,
    NikVaultError,
    NikVaultErrorCode,
)
from interchange.registry_errors import RegistryError, RegistryErrorCode
from tests.unit.interchange.registry_builders import b64

NIK = "3201234567890123"
OTHER_NIK = "3201234567890124"
KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))
LOOKUP = bytes(range(64, 96))


def vault_error(excinfo: pytest.ExceptionInfo[NikVaultError]) -> NikVaultErrorCode:
    code = excinfo.value.code
    assert isinstance(code, NikVaultErrorCode)
    return code


def rotated() -> NikVault:
    return NikVault({"k2": KEY_2, "k1": KEY_1}, "k2", LOOKUP)


def test_decrypts_what_it_encrypted() -> None:
    vault = NikVault({"k1": KEY_1}, "k1", LOOKUP)
    key_id, token = vault.encrypt(NIK)
    assert key_id == "k1"
    assert vault.decrypt(key_id, token) == NIK


def test_the_token_hides_the_nik_and_differs_each_time() -> None:
    vault = NikVault.development()
    (_, first), (_, second) = vault.encrypt(NIK), vault.encrypt(NIK)
    assert first != second
    assert NIK not in first
    assert NIK.encode() not in base64.urlsafe_b64decode(first)


def test_a_token_is_urlsafe_base64_of_nonce_ciphertext_and_tag() -> None:
    _, token = NikVault.development().encrypt(NIK)
    assert len(base64.urlsafe_b64decode(token)) == 12 + 16 + 16


@pytest.mark.parametrize("position", [0, 11, 12, 27, 43])
def test_a_token_with_any_flipped_byte_is_refused(position: int) -> None:
    vault = NikVault.development()
    key_id, token = vault.encrypt(NIK)
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[position] ^= 0x01
    with pytest.raises(NikVaultError) as caught:
        vault.decrypt(key_id, base64.urlsafe_b64encode(bytes(raw)).decode())
    assert vault_error(caught) is NikVaultErrorCode.NIK_TOKEN_INVALID


@pytest.mark.parametrize("token", ["", "not base64!", "AAAA", "A" * 300, "é"])
def test_a_token_that_is_not_a_token_is_refused(token: str) -> None:
    with pytest.raises(NikVaultError) as caught:
        NikVault.development().decrypt(DEVELOPMENT_KEY_ID, token)
    assert vault_error(caught) is NikVaultErrorCode.NIK_TOKEN_INVALID


def test_a_token_presented_under_another_key_id_is_refused() -> None:
    # Both keys equal: only the key id, bound as associated data, tells them apart.
    vault = NikVault({"k1": KEY_1, "k1b": KEY_1}, "k1", LOOKUP)
    _, token = vault.encrypt(NIK)
    with pytest.raises(NikVaultError) as caught:
        vault.decrypt("k1b", token)
    assert vault_error(caught) is NikVaultErrorCode.NIK_TOKEN_INVALID


def test_an_unknown_key_id_is_named_as_such() -> None:
    with pytest.raises(NikVaultError) as caught:
        NikVault.development().decrypt("k9", NikVault.development().encrypt(NIK)[1])
    assert vault_error(caught) is NikVaultErrorCode.NIK_KEY_UNKNOWN


def test_a_rotated_vault_reads_old_tokens_and_writes_new_ones() -> None:
    old = NikVault({"k1": KEY_1}, "k1", LOOKUP)
    key_id, token = old.encrypt(NIK)
    new = rotated()
    assert new.needs_rotation(key_id)
    assert new.decrypt(key_id, token) == NIK
    new_key_id, _ = new.encrypt(NIK)
    assert new_key_id == "k2"
    assert not new.needs_rotation(new_key_id)


def test_a_vault_given_a_new_current_key_keeps_the_old_ones_for_reading() -> None:
    old = NikVault({"k1": KEY_1}, "k1", LOOKUP)
    key_id, token = old.encrypt(NIK)
    new = old.with_current_key("k2", KEY_2)
    assert new.current_key_id == "k2"
    assert new.decrypt(key_id, token) == NIK
    assert new.lookup_hash(NIK) == old.lookup_hash(NIK)
    with pytest.raises(NikVaultError) as caught:
        new.with_current_key("k1", KEY_1)
    assert vault_error(caught) is NikVaultErrorCode.NIK_VAULT_SETTING_INVALID


def test_the_lookup_hash_is_deterministic_keyed_and_hex() -> None:
    vault = rotated()
    digest = vault.lookup_hash(NIK)
    assert digest == vault.lookup_hash(NIK)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest != vault.lookup_hash(OTHER_NIK)
    assert digest != NikVault({"k1": KEY_1}, "k1", KEY_2).lookup_hash(NIK)
    # Rotating encryption keys does not change lookup hashes.
    assert digest == NikVault({"k1": KEY_1}, "k1", LOOKUP).lookup_hash(NIK)


@pytest.mark.parametrize("nik", ["123", "320123456789012x", ""])
def test_only_niks_are_encrypted_or_hashed(nik: str) -> None:
    vault = NikVault.development()
    for operation in (vault.encrypt, vault.lookup_hash):
        with pytest.raises(RegistryError) as caught:
            operation(nik)
        assert caught.value.code is RegistryErrorCode.NIK_INVALID


def test_reads_a_setting_whose_first_key_is_current() -> None:
    setting = f"k2:{b64(KEY_2)}, k1:{b64(KEY_1)} ; lookup:{b64(LOOKUP)}"
    vault = NikVault.from_setting(setting)
    assert vault.current_key_id == "k2"
    key_id, token = NikVault({"k1": KEY_1}, "k1", LOOKUP).encrypt(NIK)
    assert vault.decrypt(key_id, token) == NIK
    assert vault.lookup_hash(NIK) == rotated().lookup_hash(NIK)


def test_reads_urlsafe_base64_keys_too() -> None:
    urlsafe = base64.urlsafe_b64encode(bytes([251] * 32)).decode()
    assert "-" in urlsafe or "_" in urlsafe
    vault = NikVault.from_setting(f"k1:{urlsafe};lookup:{b64(LOOKUP)}")
    assert vault.current_key_id == "k1"


@pytest.mark.parametrize(
    "setting",
    [
        "",
        f"k1:{b64(KEY_1)}",
        f"k1:{b64(KEY_1)};lookup:{b64(LOOKUP)};x",
        f"k1:{b64(KEY_1)};lookups:{b64(LOOKUP)}",
        f"k1:{b64(KEY_1[:16])};lookup:{b64(LOOKUP)}",
        f"k1:{b64(KEY_1)};lookup:{b64(LOOKUP[:8])}",
        f"k1:not-base64!;lookup:{b64(LOOKUP)}",
        f"k1{b64(KEY_1)};lookup:{b64(LOOKUP)}",
        f"k1:{b64(KEY_1)},k1:{b64(KEY_2)};lookup:{b64(LOOKUP)}",
        f"key id:{b64(KEY_1)};lookup:{b64(LOOKUP)}",
        f"{'k' * 17}:{b64(KEY_1)};lookup:{b64(LOOKUP)}",
        f"k1:{b64(KEY_1)};lookup:{b64(KEY_1)}",
        ";" + "k" * 5000,
    ],
)
def test_refuses_a_malformed_setting(setting: str) -> None:
    with pytest.raises(NikVaultError) as caught:
        NikVault.from_setting(setting)
    assert vault_error(caught) is NikVaultErrorCode.NIK_VAULT_SETTING_INVALID


def test_refuses_a_current_key_that_is_not_in_the_vault() -> None:
    with pytest.raises(NikVaultError) as caught:
        NikVault({"k1": KEY_1}, "k2", LOOKUP)
    assert vault_error(caught) is NikVaultErrorCode.NIK_VAULT_SETTING_INVALID


def test_development_keys_are_labelled_and_recognised() -> None:
    vault = NikVault.development()
    assert vault.current_key_id == DEVELOPMENT_KEY_ID == "dev1"
    assert vault.is_development
    assert not rotated().is_development


def test_repr_names_key_ids_but_never_keys() -> None:
    text = repr(rotated())
    assert "k1" in text and "k2" in text
    for secret in (KEY_1, KEY_2, LOOKUP):
        assert repr(secret) not in text and b64(secret) not in text


def test_fingerprints_name_every_key_and_the_lookup_key_and_show_none_of_them() -> None:
    """One fingerprint per key id and one for the lookup key, under a name no key id can
    have; each is 64 hex digits, the same each time, and none contains its key."""
    prints = rotated().fingerprints()
    assert set(prints) == {"k1", "k2", LOOKUP_KEY_NAME}
    assert prints == rotated().fingerprints()
    assert len(set(prints.values())) == 3
    for key, fingerprint in zip(
        (KEY_1, KEY_2, LOOKUP), (prints["k1"], prints["k2"], prints[LOOKUP_KEY_NAME]), strict=True
    ):
        assert len(fingerprint) == 64 and set(fingerprint) <= set("0123456789abcdef")
        assert key.hex() not in fingerprint and b64(key) not in fingerprint
    with pytest.raises(NikVaultError):
        NikVault({LOOKUP_KEY_NAME: KEY_1}, LOOKUP_KEY_NAME, LOOKUP)


def test_fingerprints_recorded_for_other_keys_are_refused_lookup_key_first() -> None:
    """Names not recorded and fingerprints that match pass; every name recorded with
    another fingerprint is named, the lookup key first, never the key itself."""
    vault = rotated()
    vault.check_fingerprints({})
    vault.check_fingerprints(vault.fingerprints())
    other = NikVault({"k2": KEY_1, "k1": KEY_2}, "k2", KEY_2[::-1]).fingerprints()
    with pytest.raises(NikVaultError) as caught:
        vault.check_fingerprints(other)
    assert vault_error(caught) is NikVaultErrorCode.NIK_KEY_MISMATCH
    message = caught.value.message
    assert message.index("lookup key") < message.index("'k1'") < message.index("'k2'")
    for secret in (KEY_1, KEY_2, LOOKUP):
        assert secret.hex() not in message and b64(secret) not in message
