"""The composition root refuses, on both engines, what its services would fail on later.

- A database not at this kopnet's head revision: `build` raises `SchemaRevisionError`
  (`schema_not_at_head`, or `schema_revision_unknown` for a revision a newer kopnet
  wrote) before any service starts, where the services would otherwise crash with
  `no such table` at their first use of a newer table.
- A sealing key that is not the database's: `build` raises `seal_key_mismatch` before any
  service (payments, the registry and settlement write digests under the key without the
  ledger's methods) can write; a `kopnet` command exits 2 with the code printed and
  writes nothing: no entry sealed, no link added.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, text

from api.bootstrap import SchemaRevisionError, build
from api.settings import Settings
from ledger.db import make_engine
from ledger.digest import seal_key_fingerprint
from ledger.errors import LedgerError, LedgerErrorCode
from ledger.service import Ledger
from ledger.tables import chain, seal_key
from migrations.runner import downgrade
from tests.builders import idr, open_wallets, transfer
from tests.cli import assert_refused_with, audit_verify_json, invoke
from tests.conftest import TEST_SEAL_KEY

WRONG_KEY = "kopnet-wrong-seal-key"


def settings_for(db_url: str, key: str = TEST_SEAL_KEY.decode()) -> Settings:
    return Settings(database_url=db_url, seal_key=key)


@pytest.fixture
def one_unsealed_entry(ledger: Ledger) -> Ledger:
    """A ledger whose one entry waits to be sealed."""
    wallets = open_wallets(ledger, "ani")
    ledger.post(transfer("fund", wallets["cash"], wallets["ani"], idr(100)))
    return ledger


def chain_length(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(chain)).scalar_one())


def test_build_refuses_a_database_at_an_older_revision(db_url: str) -> None:
    """A database one revision behind (0010, without the sealing key's table) is refused
    with the code the command line uses, and stays at its revision."""
    downgrade(db_url, "0010")
    with pytest.raises(SchemaRevisionError) as caught:
        build(settings_for(db_url))
    assert caught.value.code == "schema_not_at_head"
    assert "kopnet db upgrade" in caught.value.message
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert revision == "0010"


def test_build_refuses_a_database_a_newer_kopnet_migrated(db_url: str) -> None:
    """A revision these migrations do not define is `schema_revision_unknown`."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaRevisionError) as caught:
        build(settings_for(db_url))
    assert caught.value.code == "schema_revision_unknown"


def test_build_refuses_a_wrong_sealing_key_and_accepts_the_right_one(
    one_unsealed_entry: Ledger, db_url: str
) -> None:
    """The check runs in `build`, before any service is handed out."""
    with pytest.raises(LedgerError) as caught:
        build(settings_for(db_url, WRONG_KEY))
    assert caught.value.code is LedgerErrorCode.SEAL_KEY_MISMATCH
    assert WRONG_KEY not in caught.value.message
    build(settings_for(db_url)).close()
    with one_unsealed_entry.engine.connect() as conn:
        fingerprints = list(conn.execute(select(seal_key.c.fingerprint)).scalars())
    assert fingerprints == [seal_key_fingerprint(TEST_SEAL_KEY)]


@pytest.mark.parametrize(
    "command",
    [("ledger", "seal"), ("ledger", "seal", "--full-scan"), ("audit", "verify", "--json")],
    ids=" ".join,
)
def test_a_command_with_a_wrong_sealing_key_exits_2_and_seals_nothing(
    one_unsealed_entry: Ledger, db_url: str, command: tuple[str, ...]
) -> None:
    """The every-minute sealer and the audit, run with a wrong key, used to seal the
    waiting entry under it, so that every later audit with the right key reported the
    chain broken: now they are refused (exit 2, `seal_key_mismatch` printed as JSON) and
    the entry waits; the right key then seals it and finds the ledger intact."""
    result = invoke(*command, "--database-url", db_url, env={"KOPNET_SEAL_KEY": WRONG_KEY})
    assert_refused_with(result, "seal_key_mismatch")
    printed = json.loads(result.output)
    assert printed["error"] == "seal_key_mismatch" and WRONG_KEY not in printed["message"]
    assert chain_length(one_unsealed_entry) == 0
    status, report = audit_verify_json(db_url)
    assert status == 0, report
    assert chain_length(one_unsealed_entry) == 1


def test_a_fingerprint_whose_commit_was_lost_exits_3_not_2(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`build` checks the sealing key, which may record its fingerprint: a connection lost
    at that COMMIT is `outcome_unknown`, exit 3 as anywhere else, not a refusal (exit 2)."""

    def lost(_self: Ledger) -> None:
        raise LedgerError(LedgerErrorCode.OUTCOME_UNKNOWN, "lost at COMMIT")

    monkeypatch.setattr(Ledger, "check_seal_key", lost)
    env = {"KOPNET_SEAL_KEY": TEST_SEAL_KEY.decode()}
    result = invoke("ledger", "seal", "--database-url", sqlite_url, env=env)
    assert result.exit_code == 3, result.output
    assert json.loads(result.output)["error"] == "outcome_unknown"
