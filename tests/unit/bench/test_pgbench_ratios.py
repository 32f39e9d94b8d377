"""The ledger benchmark's comparison with pgbench, without a database: pure arithmetic."""

from __future__ import annotations

from bench.ledger_bench import pgbench_ratios


def test_the_cpu_budget_is_every_cores_time_shared_by_the_transfers_of_the_target_rate() -> None:
    """2 cores and pgbench at 2,000 tps: 1.0× is 2,000 transfers a second, 1,000 µs each;
    0.8× is 1,600, 1,250 µs; 10× is 20,000, 100 µs."""
    rates = {"single_transfers_per_s": 1000.0, "hot_transfers_per_s": 1200.0}
    ratios = pgbench_ratios({**rates, "batch_transfers_per_s": 5000.0}, 2000.0, cores=2)
    assert ratios == {
        "single_vs_pgbench": 0.5,
        "single_cpu_budget_us_per_transfer": 1000.0,
        "hot_vs_pgbench": 0.6,
        "hot_cpu_budget_us_per_transfer": 1250.0,
        "batch_vs_pgbench": 2.5,
        "batch_cpu_budget_us_per_transfer": 100.0,
    }
