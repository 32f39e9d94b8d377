"""Settings, read from the environment (prefix `KOPNET_`) or a `.env` file.

`KOPNET_DATABASE_URL` selects the database: an embedded SQLite file by default, so that a
newcomer needs no server; PostgreSQL (`postgresql://...`, driven by psycopg 3) in
production (at most 2,048 characters). `KOPNET_SEAL_KEY` keys the ledger's entry
digests (16 to 1,024 characters) and `KOPNET_NIK_KEYS` encrypts members' national ID
numbers (format: `interchange.nik.NikVault.from_setting`, checked here); the built-in
development keys are refused when `KOPNET_ENVIRONMENT=production`. `KOPNET_ENVIRONMENT`
is `development`, `test` or `production`, in any case. `KOPNET_TIME_ZONE` and
`KOPNET_WINDOW_CUTOFF_S` place the nightly settlement cut-off. On PostgreSQL,
`KOPNET_LOCK_TIMEOUT_MS` bounds each wait for a lock (a write then fails with
`lock_wait_timeout`, a migration with the same code) and
`KOPNET_IDLE_IN_TRANSACTION_TIMEOUT_MS` how long a session may sit idle inside a
transaction before the server ends it, releasing its locks. Every value is checked
when the settings are read, so a bad one is a `ValueError` (pydantic's
`ValidationError`) naming the setting, never its secret."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from interchange.nik import NikVault, NikVaultError
from interchange.window import keeps_one_offset
from ledger.db import (
    IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT,
    IDLE_IN_TRANSACTION_TIMEOUT_MS_MAX,
    IDLE_IN_TRANSACTION_TIMEOUT_MS_MIN,
    LOCK_TIMEOUT_MS_DEFAULT,
    LOCK_TIMEOUT_MS_MAX,
    SessionBounds,
)
from ledger.group_commit import ANSWER_WAIT_S_DEFAULT, ANSWER_WAIT_S_MAX

__all__ = [
    "DATABASE_URL_CHARS_MAX",
    "DEVELOPMENT_SEAL_KEY",
    "ENVIRONMENTS",
    "SEAL_KEY_CHARS_MAX",
    "SEAL_KEY_CHARS_MIN",
    "Settings",
]

DEVELOPMENT_SEAL_KEY = "kopnet-development-seal-key-not-for-production"
ENVIRONMENTS = frozenset({"development", "test", "production"})
SEAL_KEY_CHARS_MIN = 16
SEAL_KEY_CHARS_MAX = 1024
DATABASE_URL_CHARS_MAX = 2048


class Settings(BaseSettings):
    """Everything configurable about one kopnet process."""

    model_config = SettingsConfigDict(env_prefix="KOPNET_", env_file=".env", extra="ignore")

    environment: str = Field("development", max_length=16)
    database_url: str = Field(
        "sqlite:///kopnet.db", min_length=1, max_length=DATABASE_URL_CHARS_MAX
    )
    seal_key: SecretStr = SecretStr(DEVELOPMENT_SEAL_KEY)
    nik_keys: SecretStr | None = None
    group_commit_workers: int = Field(2, ge=1, le=16)
    # How long a caller waits for its group's answer before `outcome_unknown`.
    answer_wait_s: float = Field(ANSWER_WAIT_S_DEFAULT, gt=0, le=ANSWER_WAIT_S_MAX)
    # PostgreSQL only: how long a statement waits for a lock before `lock_wait_timeout`.
    lock_timeout_ms: int = Field(LOCK_TIMEOUT_MS_DEFAULT, ge=1, le=LOCK_TIMEOUT_MS_MAX)
    # PostgreSQL only: how long a session may stay idle inside a transaction.
    idle_in_transaction_timeout_ms: int = Field(
        IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT,
        ge=IDLE_IN_TRANSACTION_TIMEOUT_MS_MIN,
        le=IDLE_IN_TRANSACTION_TIMEOUT_MS_MAX,
    )
    time_zone: str = Field("Asia/Jakarta", max_length=64)
    # Seconds after local midnight at which a day's window closes: within the day.
    window_cutoff_s: int = Field(86_400, ge=1, le=86_400)

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        if value.lower() not in ENVIRONMENTS:
            raise ValueError(f"expected one of {', '.join(sorted(ENVIRONMENTS))}")
        return value.lower()

    @field_validator("seal_key")
    @classmethod
    def _long_seal_key(cls, value: SecretStr) -> SecretStr:
        if not SEAL_KEY_CHARS_MIN <= len(value.get_secret_value()) <= SEAL_KEY_CHARS_MAX:
            raise ValueError(
                f"the seal key is {SEAL_KEY_CHARS_MIN} to {SEAL_KEY_CHARS_MAX} characters"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as error:
            raise ValueError("not a known IANA time zone, such as Asia/Jakarta") from error
        if not keeps_one_offset(value, datetime.now(UTC).date()):
            # Clocks going back would put the repeated hour after a cut-off in the window
            # just closed (`interchange.window`).
            raise ValueError("a time zone without daylight saving time, such as Asia/Jakarta")
        return value

    @field_validator("nik_keys")
    @classmethod
    def _readable_nik_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # The vault's messages name key ids and the format, never key material.
        if value is not None:
            try:
                NikVault.from_setting(value.get_secret_value())
            except NikVaultError as error:
                raise ValueError(error.message) from None
        return value

    @model_validator(mode="after")
    def _production_needs_own_keys(self) -> Settings:
        if not self.is_production:
            return self
        if self.seal_key.get_secret_value() == DEVELOPMENT_SEAL_KEY:
            raise ValueError("set KOPNET_SEAL_KEY: the development key is public")
        # Without KOPNET_NIK_KEYS the vault is the development one.
        if self.nik_vault().is_development:
            raise ValueError("set KOPNET_NIK_KEYS: the development keys are public")
        return self

    @property
    def is_production(self) -> bool:
        """True when this process runs in production (the development keys are refused)."""
        return self.environment.lower() == "production"

    def session_bounds(self) -> SessionBounds:
        """What every PostgreSQL session is held to (`ledger.db.SessionBounds`)."""
        return SessionBounds(self.lock_timeout_ms, self.idle_in_transaction_timeout_ms)

    def seal_key_bytes(self) -> bytes:
        """The sealing key as bytes."""
        return self.seal_key.get_secret_value().encode()

    def nik_vault(self) -> NikVault:
        """The vault of `nik_keys`, or the public development vault when none are set."""
        if self.nik_keys is None:
            return NikVault.development()
        return NikVault.from_setting(self.nik_keys.get_secret_value())
