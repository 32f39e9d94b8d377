"""Settings, read from the environment (prefix `KOPNET_`) or a `.env` file.

`KOPNET_DATABASE_URL` selects the database: an embedded SQLite file by default, so that a
newcomer needs no server; PostgreSQL (`postgresql://...`, driven by psycopg 3) in
production. `KOPNET_SEAL_KEY` keys the ledger's entry digests and `KOPNET_NIK_KEYS`
encrypts members' national ID numbers (format: `interchange.nik.NikVault.from_setting`);
the built-in development keys are refused when `KOPNET_ENVIRONMENT=production`.
`KOPNET_TIME_ZONE` and `KOPNET_WINDOW_CUTOFF_S` place the nightly settlement cut-off.
"""

from __future__ import annotations

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEVELOPMENT_SEAL_KEY", "Settings"]

DEVELOPMENT_SEAL_KEY = "kopnet-development-seal-key-not-for-production"


class Settings(BaseSettings):
    """Everything configurable about one kopnet process."""

    model_config = SettingsConfigDict(env_prefix="KOPNET_", env_file=".env", extra="ignore")

    environment: str = "development"
    database_url: str = "sqlite:///kopnet.db"
    seal_key: SecretStr = SecretStr(DEVELOPMENT_SEAL_KEY)
    nik_keys: SecretStr | None = None
    group_commit_workers: int = 2
    time_zone: str = "Asia/Jakarta"
    window_cutoff_s: int = 86_400

    @model_validator(mode="after")
    def _production_needs_own_key(self) -> Settings:
        if self.environment == "production" and (
            self.seal_key.get_secret_value() == DEVELOPMENT_SEAL_KEY
        ):
            raise ValueError("set KOPNET_SEAL_KEY: the development key is public")
        if self.environment == "production" and self.nik_keys is None:
            raise ValueError("set KOPNET_NIK_KEYS: the development keys are public")
        return self

    def seal_key_bytes(self) -> bytes:
        """The sealing key as bytes."""
        return self.seal_key.get_secret_value().encode()
