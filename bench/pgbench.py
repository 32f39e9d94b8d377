"""The baseline: PostgreSQL's own `pgbench` (TPC-B-like) on a scratch database of its own.

`run_pgbench` initialises a scratch database (`pgbench -i -s scale`), runs
`pgbench -c clients -j threads -T duration_s` against it, and drops it. The result is the
server's throughput for small write transactions with one commit (and one WAL flush) each:
the number the ledger's single-entry path is compared with. Invariant: nothing but the
scratch database is touched; the password, if any, reaches pgbench by environment only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from bench.seed import scratch_database

__all__ = ["PgbenchResult", "parse_tps", "pgbench_path", "run_pgbench"]

_TPS = re.compile(r"^tps = ([0-9]+(?:\.[0-9]+)?)", re.MULTILINE)
_SLACK_S = 300.0


@dataclass(frozen=True, slots=True)
class PgbenchResult:
    """Transactions per second, and how the run was made."""

    tps: float
    scale: int
    clients: int
    threads: int
    duration_s: float
    init_s: float


def pgbench_path() -> str | None:
    """The pgbench executable on PATH, or None."""
    return shutil.which("pgbench")


def parse_tps(output: str) -> float:
    """The `tps = N` figure of a pgbench report; fail loudly when it is missing."""
    found = _TPS.search(output)
    if found is None:
        raise ValueError(f"no 'tps = N' line in pgbench output: {output[-500:]!r}")
    return float(found.group(1))


def run_pgbench(
    server_url: str,
    *,
    scale: int = 16,
    clients: int = 16,
    threads: int = 2,
    duration_s: float = 20.0,
) -> PgbenchResult:
    """Run pgbench on a scratch database of the server at `server_url`."""
    executable = pgbench_path()
    assert executable is not None, "pgbench must be on PATH"
    assert scale >= 1 and clients >= 1 and 1 <= threads <= clients and duration_s >= 1
    with scratch_database(server_url, "kopnet_pgbench") as url:
        args, env = _connection(url)
        started = time.perf_counter()
        _pgbench(executable, ["-i", "-q", "-s", str(scale), *args], env)
        init_s = time.perf_counter() - started
        run = ["-c", str(clients), "-j", str(threads), "-T", str(round(duration_s)), *args]
        output = _pgbench(executable, run, env, timeout_s=duration_s + _SLACK_S)
    return PgbenchResult(parse_tps(output), scale, clients, threads, duration_s, init_s)


def _connection(url: str) -> tuple[list[str], dict[str, str]]:
    """pgbench arguments naming the database at `url`, and the environment to run it in."""
    parsed = make_url(url)
    assert parsed.database, "a database name is needed"
    args: list[str] = []
    if parsed.host:
        args += ["-h", parsed.host]
    if parsed.port:
        args += ["-p", str(parsed.port)]
    if parsed.username:
        args += ["-U", parsed.username]
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return [*args, parsed.database], env


def _pgbench(
    executable: str, args: list[str], env: dict[str, str], *, timeout_s: float = _SLACK_S
) -> str:
    completed = subprocess.run(  # noqa: S603 - a fixed executable, arguments we built
        [executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench {args[:2]} failed: {completed.stderr[-1000:]}")
    return completed.stdout + completed.stderr
