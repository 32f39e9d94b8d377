"""The network's fee and due accounts per cooperative, so that no ledger row is shared by
every off-us payment.

Each cooperative row gains `network_fee_account_id` and `network_due_account_id`: the
network operator's accounts for that cooperative's payments (the operator's own row points
at its own fee and due accounts). Existing cooperatives get theirs opened here, empty;
balances already booked stay on the operator's own accounts, where the network's totals
(sums over all its fee or due accounts) still count them. The operator's due accounts have
no upper limit: settlement pays into its own while the dues sit on the others.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COOP = "interchange_coop"
_ONE_NETWORK = "uq_interchange_coop_network"
_SHARES = (
    ("network_fee_account_id", "fee", "fee_income"),
    ("network_due_account_id", "due", "settlement"),
)


def upgrade() -> None:
    """Add the columns, open the accounts of cooperatives registered before, then require them."""
    with op.batch_alter_table(_COOP) as batch:
        for column, _, _ in _SHARES:
            batch.add_column(sa.Column(column, sa.BigInteger, nullable=True))
    _open_existing_shares(op.get_bind())
    with op.batch_alter_table(_COOP) as batch:
        for column, _, _ in _SHARES:
            batch.alter_column(column, existing_type=sa.BigInteger, nullable=False)
            batch.create_foreign_key(
                f"fk_{_COOP}_{column}_ledger_account", "ledger_account", [column], ["id"]
            )
    op.create_index(
        _ONE_NETWORK,
        _COOP,
        ["is_network"],
        unique=True,
        postgresql_where=sa.text("is_network"),
        sqlite_where=sa.text("is_network"),
    )


_ACCOUNT_COLUMNS = (
    "ref",
    "coop_id",
    "currency",
    "kind",
    "status",
    "min_balance_minor",
    "max_balance_minor",
    "posted_minor",
    "pending_debit_minor",
    "pending_credit_minor",
    "posting_count",
    "created_at",
)
_coop = sa.table(
    _COOP,
    *(
        sa.column(name)
        for name in ("id", "code", "currency", "is_network", "fee_account_id", "due_account_id")
    ),
    *(sa.column(column) for column, _, _ in _SHARES),
)
_account = sa.table("ledger_account", sa.column("id"), *map(sa.column, _ACCOUNT_COLUMNS))


def _open_existing_shares(conn: sa.Connection) -> None:
    rows = conn.execute(sa.select(_coop)).all()
    network = next((row for row in rows if row.is_network), None)
    if network is None:
        if rows:
            raise RuntimeError("cooperatives are registered but the network operator is not")
        return
    conn.execute(
        sa.update(_coop)
        .where(_coop.c.id == network.id)
        .values(
            network_fee_account_id=network.fee_account_id,
            network_due_account_id=network.due_account_id,
        )
    )
    conn.execute(
        sa.update(_account)
        .where(_account.c.id == network.due_account_id)
        .values(max_balance_minor=None)
    )
    now = datetime.now(UTC)
    for row in rows:
        if not row.is_network:
            ids = {
                column: _open(
                    conn, f"network:{row.code}:{purpose}", network.id, row.currency, kind, now
                )
                for column, purpose, kind in _SHARES
            }
            conn.execute(sa.update(_coop).where(_coop.c.id == row.id).values(**ids))


def _open(
    conn: sa.Connection, ref: str, owner: int, currency: str, kind: str, now: datetime
) -> int:
    """The id of the account `ref`, opened empty unless a downgraded run left it."""
    found = conn.execute(sa.select(_account.c.id).where(_account.c.ref == ref)).scalar()
    if found is not None:
        return int(found)
    counters = ("posted_minor", "pending_debit_minor", "pending_credit_minor", "posting_count")
    values = dict.fromkeys(counters, 0) | {
        "ref": ref,
        "coop_id": owner,
        "currency": currency,
        "kind": kind,
        "status": "active",
        "min_balance_minor": None,
        "max_balance_minor": None,
        "created_at": now,
    }
    return int(
        conn.execute(sa.insert(_account).values(values).returning(_account.c.id)).scalar_one()
    )


def downgrade() -> None:
    """Drop the columns and give the network's due account its cap back; the accounts stay,
    being ledger history. Refused once a payment has posted to them: the code before this
    revision would not count those postings."""
    conn = op.get_bind()
    shares = [
        sa.select(_coop.c[column]).where(sa.not_(_coop.c.is_network)) for column, _, _ in _SHARES
    ]
    used = conn.execute(
        sa.select(_account.c.ref).where(
            _account.c.id.in_(sa.union_all(*shares)), _account.c.posting_count > 0
        )
    ).first()
    if used is not None:
        raise RuntimeError(f"cannot downgrade: payments were booked on {used.ref}")
    network_due = sa.select(_coop.c.due_account_id).where(_coop.c.is_network).scalar_subquery()
    over = conn.execute(
        sa.select(_account.c.ref).where(
            _account.c.id == network_due,
            _account.c.posted_minor + _account.c.pending_credit_minor > 0,
        )
    ).first()
    if over is not None:
        raise RuntimeError(f"cannot downgrade: {over.ref} is above the cap 0 it had before")
    conn.execute(
        sa.update(_account).where(_account.c.id == network_due).values(max_balance_minor=0)
    )
    op.drop_index(_ONE_NETWORK, _COOP)
    with op.batch_alter_table(_COOP) as batch:
        for column, _, _ in _SHARES:
            batch.drop_constraint(f"fk_{_COOP}_{column}_ledger_account", type_="foreignkey")
            batch.drop_column(column)
