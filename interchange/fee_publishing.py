"""Publishing a fee schedule version: new versions only, in order, naming cooperatives
that exist; the same schedule again is a replay.

Checks, in order, under a table lock on PostgreSQL (publications one at a time, so that
versions grow in the order they appear and every process reloads its schedules when the
newest version changes): a version below the newest that was never published is
`fee_schedule_version_stale`; a version published with other rules is
`fee_schedule_version_exists` (an equal schedule, its rules in any order, is a replay);
a new version whose rules name a cooperative that is not registered is
`fee_coop_not_found`, naming the first such id and its field.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from interchange.fee_schedule import FeeError, FeeErrorCode, FeeSchedule
from interchange.fee_schedule_codec import schedule_from_json, schedule_to_json
from interchange.payment_store import load_schedule_version
from interchange.tables import coop, fee_schedule

__all__ = ["publish_schedule_in"]


def publish_schedule_in(conn: Connection, schedule: FeeSchedule) -> FeeSchedule:
    """Publish `schedule` in the caller's transaction, or replay it if published as it is;
    refused as the module says, with nothing written; anything but a `FeeSchedule` is
    `fee_schedule_invalid`, before the table is locked."""
    if not isinstance(schedule, FeeSchedule):
        message = "publish a FeeSchedule"
        raise FeeError(FeeErrorCode.FEE_SCHEDULE_INVALID, message, field="schedule")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {fee_schedule.name} IN SHARE ROW EXCLUSIVE MODE")
    existing = conn.execute(
        select(fee_schedule.c.rules_json).where(fee_schedule.c.version == schedule.version)
    ).scalar()
    newest = load_schedule_version(conn)
    if existing is None and schedule.version < newest:
        raise FeeError(
            FeeErrorCode.FEE_SCHEDULE_VERSION_STALE,
            f"version {schedule.version} is below the newest, {newest}",
            field="version",
        )
    if existing is not None:
        if schedule_from_json(existing) != schedule:
            raise FeeError(
                FeeErrorCode.FEE_SCHEDULE_VERSION_EXISTS,
                f"schedule version {schedule.version} is published with other rules",
                field="version",
            )
        return schedule
    _require_coops(conn, schedule)
    conn.execute(
        insert(fee_schedule).values(
            version=schedule.version,
            effective_from_date=schedule.effective_from_date,
            rules_json=schedule_to_json(schedule),
            created_at=datetime.now(UTC),
        )
    )
    return schedule


def _require_coops(conn: Connection, schedule: FeeSchedule) -> None:
    """Every cooperative the rules name is registered (`fee_coop_not_found`)."""
    named = [
        (coop_id, field)
        for key in schedule.rules
        for coop_id, field in (
            (key.issuer_coop_id, "issuer_coop_id"),
            (key.acquirer_coop_id, "acquirer_coop_id"),
        )
        if coop_id is not None
    ]
    if not named:
        return
    wanted = {coop_id for coop_id, _ in named}
    found = set(conn.execute(select(coop.c.id).where(coop.c.id.in_(wanted))).scalars())
    for coop_id, field in sorted(named):
        if coop_id not in found:
            raise FeeError(
                FeeErrorCode.FEE_COOP_NOT_FOUND, f"no cooperative {coop_id}", field=field
            )
