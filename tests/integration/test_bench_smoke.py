"""The ledger benchmark run tiny: it reports every figure, keeps the books balanced and
drops the scratch database it made. A behaviour check, not a timed test."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from bench.ledger_bench import run_ledger_bench
from tests.databases import PostgresServer

_RATES = ("single_transfers_per_s", "hot_transfers_per_s", "batch_transfers_per_s")
_COUNTS = ("single_count", "hot_count", "batch_count")
_RATIOS = ("single_vs_pgbench", "hot_vs_pgbench", "batch_vs_pgbench")


def _run_tiny(url: str) -> dict[str, object]:
    return run_ledger_bench(url, coops=3, wallets_per_coop=20, duration_s=1.0, with_pgbench=False)


def _assert_shape(result: dict[str, object]) -> None:
    assert json.loads(json.dumps(result)) == result, "the result is plain JSON"
    for key in _RATES:
        rate = result[key]
        assert isinstance(rate, float) and rate > 0, key
    for key in _COUNTS:
        count = result[key]
        assert isinstance(count, int) and count > 0, key
    p50, p99 = result["p50_ms"], result["p99_ms"]
    assert isinstance(p50, float) and isinstance(p99, float) and 0 < p50 <= p99
    for key in ("single_errors", "hot_errors", "batch_errors", "audit_findings"):
        assert not result[key], key
    for path in ("single", "hot", "batch"):
        process_us = result[f"{path}_process_cpu_us_each"]
        assert isinstance(process_us, float) and process_us > 0, path
        assert result[f"{path}_cpu_budget_us_per_transfer"] is None, path
    assert result["pgbench_tps"] is None and all(result[key] is None for key in _RATIOS)
    assert result["pgbench_skipped"] == "with_pgbench=False"
    machine = result["machine"]
    assert isinstance(machine, dict)
    assert machine["cpu_count"] and machine["python_version"]
    assert result["invariants_ok"] is True
    assert result["entries_recorded"] == result["entries_expected"]


@pytest.mark.postgres
def test_bench_on_postgresql_reports_every_figure_and_drops_its_database(
    pg_server: PostgresServer,
) -> None:
    result = _run_tiny(pg_server.admin_url)
    _assert_shape(result)
    machine = result["machine"]
    assert isinstance(machine, dict) and machine["pg_version"]
    name = result["scratch_database"]
    assert isinstance(name, str) and name.startswith("kopnet_bench_")
    with psycopg.connect(pg_server.admin_url) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert left == []


def test_bench_on_sqlite_runs_in_a_temporary_file(tmp_path: Path) -> None:
    result = _run_tiny(f"sqlite:///{tmp_path / 'ignored.db'}")
    _assert_shape(result)
    name = result["scratch_database"]
    assert isinstance(name, str) and not Path(name).exists()
    assert not (tmp_path / "ignored.db").exists(), "the named file is never touched"
