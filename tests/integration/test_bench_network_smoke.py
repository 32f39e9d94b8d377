"""The interchange and settlement benchmarks run tiny on PostgreSQL: they report every figure,
keep the books and the positions consistent, and drop the scratch databases they made.
A behaviour check, not a timed test."""

from __future__ import annotations

import json

import psycopg
import pytest

from bench.interchange_bench import run_interchange_bench
from bench.settlement_bench import run_settlement_bench
from tests.databases import PostgresServer

pytestmark = pytest.mark.postgres

_PATHS = ("ledger_single", "offus_spread", "offus_hot")
_SETTLEMENT_TIMES = ("close_s", "recompute_s", "report_s", "seed_payments_per_s")


def _is_plain_json(result: dict[str, object]) -> bool:
    return bool(json.loads(json.dumps(result)) == result)


def _assert_dropped(server: PostgresServer, result: dict[str, object]) -> None:
    name = result["scratch_database"]
    assert isinstance(name, str) and name.startswith("kopnet_bench_")
    with psycopg.connect(server.admin_url) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert left == [], "the scratch database is dropped"


def _assert_path(result: dict[str, object], name: str, unit: str) -> None:
    rate, count = result[f"{name}_{unit}"], result[f"{name}_count"]
    assert isinstance(rate, float) and rate > 0, name
    assert isinstance(count, int) and count > 0, name
    p50, p99 = result[f"{name}_p50_ms"], result[f"{name}_p99_ms"]
    assert isinstance(p50, float) and isinstance(p99, float) and 0 < p50 <= p99, name
    assert result[f"{name}_refused"] == {} and result[f"{name}_errors"] == {}, name
    process_us = result[f"{name}_process_cpu_us_each"]
    assert isinstance(process_us, float) and process_us > 0, name


def test_interchange_bench_reports_rates_and_keeps_the_books(pg_server: PostgresServer) -> None:
    result = run_interchange_bench(
        pg_server.admin_url, coops=3, members_per_coop=4, merchants_per_coop=2, duration_s=1.0
    )

    assert _is_plain_json(result)
    _assert_path(result, "ledger_single", "transfers_per_s")
    _assert_path(result, "offus_spread", "per_s")
    _assert_path(result, "offus_hot", "per_s")
    assert result["refused"] == {name: {} for name in _PATHS}
    assert result["members"] == 12 and result["merchants"] == 6
    ratio = result["offus_vs_ledger_single"]
    assert isinstance(ratio, float) and ratio > 0
    assert result["offus_vs_ledger_single_target"] == 0.8
    assert result["invariants_ok"] is True
    assert result["audit_intact"] is True and result["positions_match"] is True
    assert result["balance_sums_minor"] == {"IDR": 0}
    assert result["entries_recorded"] == result["entries_expected"]
    assert result["windows_checked"] == 1 and result["windows_mismatched"] == []
    _assert_dropped(pg_server, result)


def test_settlement_bench_closes_recomputes_and_reports_the_window(
    pg_server: PostgresServer,
) -> None:
    result = run_settlement_bench(
        pg_server.admin_url, coops=3, members_per_coop=4, merchants_per_coop=2, payments=300
    )

    assert _is_plain_json(result)
    for key in _SETTLEMENT_TIMES:
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    assert result["payments_accepted"] == 300 and result["payments_refused"] == {}
    # The window holds the day's purchases and the members' funding cash-ins.
    funding = result["funding_payments"]
    assert isinstance(funding, int) and funding == 12
    assert result["window_payments"] == 300 + funding
    assert result["newly_closed"] is True
    assert result["positions_sum_zero"] is True and result["recompute_ok"] is True
    assert result["invariants_ok"] is True
    positions, obligations = result["position_count"], result["obligation_count"]
    assert isinstance(positions, int) and isinstance(obligations, int)
    assert positions == 4, "three cooperatives and the network operator"
    assert 0 < obligations <= 3 * 2 + 3, "each ordered pair of coops, and each coop to the network"
    assert result["report_bilateral_lines"] == obligations
    windows = result["windows"]
    assert isinstance(windows, list) and len(windows) == 1
    assert windows[0]["window_date"] == result["window_date"]
    _assert_dropped(pg_server, result)
