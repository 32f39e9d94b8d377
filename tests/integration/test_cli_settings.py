"""Settings read from the environment are operator input, checked like the command line's.

A malformed or refused setting (`KOPNET_*`) makes any command exit 2 with
`setting_invalid`, never a traceback; the error names the setting but never echoes its
value, which may be a key (README "Commands", api/cli_support.py). Underneath, the settings
themselves refuse a window setting out of range with a ValueError, before any service is
built.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from api.bootstrap import build
from api.settings import Settings
from ledger.db import IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT, LOCK_TIMEOUT_MS_DEFAULT
from tests.cli import assert_no_traceback, assert_refused_with, assert_refused_with_a_code, invoke
from tests.unit.interchange.registry_builders import b64


@pytest.mark.parametrize(
    "setting",
    [
        "KOPNET_WINDOW_CUTOFF_S=abc",
        "KOPNET_WINDOW_CUTOFF_S=-5",
        "KOPNET_WINDOW_CUTOFF_S=86401",
        "KOPNET_TIME_ZONE=Mars/Olympus",
        "KOPNET_NIK_KEYS=garbage",
        "KOPNET_GROUP_COMMIT_WORKERS=0",
        "KOPNET_ANSWER_WAIT_S=0",
        "KOPNET_ANSWER_WAIT_S=3601",
        "KOPNET_ANSWER_WAIT_S=nan",
        "KOPNET_LOCK_TIMEOUT_MS=0",
        "KOPNET_LOCK_TIMEOUT_MS=600001",
        "KOPNET_LOCK_TIMEOUT_MS=0.5",
        "KOPNET_IDLE_IN_TRANSACTION_TIMEOUT_MS=999",
        "KOPNET_IDLE_IN_TRANSACTION_TIMEOUT_MS=3600001",
        "KOPNET_SEAL_KEY=",
        "KOPNET_SEAL_KEY=" + "k" * 1025,
        "KOPNET_ENVIRONMENT=" + "p" * 10_000,
        "KOPNET_ENVIRONMENT=production",
    ],
)
def test_a_bad_setting_in_the_environment_exits_2_with_a_code(
    setting: str, sqlite_url: str
) -> None:
    """Settings are operator input: a malformed or refused one is a named error with exit
    2, not a ValidationError, AssertionError, ZoneInfoNotFoundError or NikVaultError
    traceback."""
    name, value = setting.split("=", 1)
    result = invoke(
        "settle", "close", "--date", "2026-11-23", "--database-url", sqlite_url, env={name: value}
    )
    assert_refused_with_a_code(result)


def _key() -> str:
    return b64(hashlib.sha256(b"nik-key-secret").digest())


@pytest.mark.parametrize(
    "setting",
    [
        "{key}:k1;lookup:{lookup}",  # id and key swapped
        "k1:{lookup};{key}:lookup",  # the lookup part swapped
    ],
)
def test_a_misordered_nik_keys_setting_is_refused_without_echoing_the_key(
    setting: str, sqlite_url: str
) -> None:
    """`setting_invalid` names a setting but never echoes it (README), even when a
    KOPNET_NIK_KEYS has an id and its key swapped (the key stands where an id should)."""
    key = _key()
    lookup = b64(b"L" * 32)
    value = setting.format(key=key, lookup=lookup)
    result = invoke("ledger", "seal", "--database-url", sqlite_url, env={"KOPNET_NIK_KEYS": value})
    assert_refused_with(result, "setting_invalid")
    assert key not in result.output, result.output


def test_an_unknown_time_zone_setting_is_named_but_not_echoed(tmp_path: Path) -> None:
    """`setting_invalid` names `KOPNET_TIME_ZONE` without repeating what it was set to."""
    url = f"sqlite:///{tmp_path / 'tz.db'}"
    result = invoke(
        "audit", "verify", "--database-url", url, env={"KOPNET_TIME_ZONE": "hunter2-secret"}
    )
    assert_refused_with(result, "setting_invalid")
    assert "KOPNET_TIME_ZONE" in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize("url", ["", "sqlite:///" + "d" * 2048])
def test_a_database_url_that_is_empty_or_too_long_is_a_setting_error(url: str) -> None:
    with pytest.raises(ValueError, match="database_url"):
        Settings.model_validate({"database_url": url})


def test_the_longest_seal_key_is_accepted_and_one_more_character_is_not() -> None:
    assert Settings.model_validate({"seal_key": "k" * 1024}).seal_key_bytes() == b"k" * 1024
    with pytest.raises(ValueError, match="seal_key"):
        Settings.model_validate({"seal_key": "k" * 1025})


@pytest.mark.parametrize(
    ("setting", "low", "high"),
    [("lock_timeout_ms", 1, 600_000), ("idle_in_transaction_timeout_ms", 1_000, 3_600_000)],
)
def test_a_timeout_setting_takes_its_bounds_and_nothing_past_them(
    setting: str, low: int, high: int
) -> None:
    """The PostgreSQL waits are bounded both ways: no "0" (PostgreSQL's "no timeout"), no
    wait of more than ten minutes for a lock or an hour idle inside a transaction."""
    for value in (low, high):
        assert getattr(Settings.model_validate({setting: value}), setting) == value
    for value in (low - 1, high + 1):
        with pytest.raises(ValueError, match=setting):
            Settings.model_validate({setting: value})


def test_the_timeout_settings_default_to_the_ledgers_defaults() -> None:
    settings = Settings()
    assert (settings.lock_timeout_ms, settings.idle_in_transaction_timeout_ms) == (
        LOCK_TIMEOUT_MS_DEFAULT,
        IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT,
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("window_cutoff_s", 0),
        ("window_cutoff_s", 86_401),
        ("time_zone", "Mars/Base"),
        ("time_zone", "America/New_York"),
        ("time_zone", "Europe/Berlin"),
    ],
)
def test_a_bad_window_setting_is_refused_as_a_setting_not_by_an_assertion(
    sqlite_url: str, setting: str, value: object
) -> None:
    """`KOPNET_WINDOW_CUTOFF_S` and `KOPNET_TIME_ZONE` are operator input (README); a value
    out of range, or a time zone with daylight saving time (clocks going back would put
    the repeated hour after a cut-off in the window just closed), is refused by the
    settings' validation (a ValueError, as the
    production-key check is), not surfaced as AssertionError or ZoneInfoNotFoundError
    from `WindowCalendar.__post_init__` in every command that builds the services."""
    try:
        settings = Settings.model_validate({"database_url": sqlite_url, setting: value})
        build(settings).close()
    except ValueError:
        return
    except (AssertionError, KeyError) as error:
        pytest.fail(f"{type(error).__name__} instead of a settings error: {error!r}")
    pytest.fail(f"{setting}={value!r} was accepted")


def test_a_database_url_option_too_long_is_refused_as_invalid() -> None:
    """`--database-url` is held to the setting's length too (the option bypasses it)."""
    result = invoke("audit", "verify", "--database-url", "sqlite:///" + "d" * 3000)
    assert_refused_with(result, "database_url_invalid")


def test_a_command_left_without_an_answer_exits_3_with_outcome_unknown(tmp_path: Path) -> None:
    """No payment can be answered within KOPNET_ANSWER_WAIT_S=0.0001: the demo's first one
    is `outcome_unknown` with exit 3 (its own status: not a refusal, which changes nothing
    and exits 2, since the payment may yet be recorded), not a traceback."""
    database = tmp_path / "demo.db"
    result = invoke(
        "demo", "--database-url", f"sqlite:///{database}", env={"KOPNET_ANSWER_WAIT_S": "0.0001"}
    )
    assert_no_traceback(result)
    assert result.exit_code == 3, result.output
    assert json.loads(result.output.splitlines()[-1])["error"] == "outcome_unknown"
