"""A cooperative's net debit cap leaves its due account's upper limit for its payments.

Until now a cooperative's due account carried its net debit cap as its upper limit, which
the database's `upper_limit` check enforces on every update. But a settlement payment to
a cooperative the network owes raises its due balance (the network owes it less), and
when its own payments since the window closed had counted on that credit, the booking of
a payment the bank had already made broke the limit: refused, and the window stuck in
`settling`. The cap now bounds only the payments (each names it as a ceiling of its entry,
`ledger.entry.Ceiling`), so this revision removes the upper limit of every participant's
due account (`coop:{code}:due`), those a registration that died before its row left
behind included: registered again, it reuses them with the new code's terms.

A migration does not know the sealing key, and the limits are part of an account's sealed
terms: each changed account's digest is set to NULL and the account is listed in
`ledger_account_unsealed`, as 0009 did, for `kopnet ledger seal-terms` to seal once. So
that this does not launder terms rewritten before the upgrade (a frozen due account set
back to `active`, a cap raised behind the ledger's back), the list keeps each account's
status, upper limit and digest as found (`prior_status`, `prior_max_balance_minor`,
`prior_terms_digest`, new nullable columns): the audit checks that digest against those
terms, and `seal-terms` seals no account whose terms as found do not match it.

Downgrade: the list's new columns are dropped, and each due account's upper limit is its
cooperative's cap again, or, where that is higher, its balance with held credits (the
table's check would refuse the cap) or the highest balance a posting of it recorded
(0011's audit would report the posting beyond the limit); it is listed for sealing again,
without what it was (0011's `seal-terms` seals what it finds).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_DUE_ACCOUNTS = "SELECT due_account_id FROM interchange_coop WHERE NOT is_network"
_LIST = "ledger_account_unsealed"
_PRIOR = (
    sa.Column("prior_status", sa.String(16), nullable=True),
    sa.Column("prior_max_balance_minor", sa.BigInteger(), nullable=True),
    sa.Column("prior_terms_digest", sa.String(64), nullable=True),
)


def _list_for_sealing(where: str, *, with_prior: bool) -> None:
    """List the accounts `where` selects that are not listed yet; `with_prior`, with their
    status, upper limit and digest as they are now."""
    prior = ("status", "max_balance_minor", "terms_digest") if with_prior else ()
    listed = ["account_id", "coop_id", *(f"prior_{name}" for name in prior)]
    found = ["id", "coop_id", *prior]
    op.execute(
        f"INSERT INTO {_LIST} ({', '.join(listed)}) SELECT {', '.join(found)}"
        f" FROM ledger_account WHERE {where} AND id NOT IN (SELECT account_id FROM {_LIST})"
    )


def upgrade() -> None:
    for column in _PRIOR:
        op.add_column(_LIST, column)
    # The backslash keeps SQLAlchemy's `text()` from reading `:due` as a bound parameter.
    due = "ref LIKE 'coop:%\\:due' AND kind = 'settlement'"
    capped = f"{due} AND max_balance_minor IS NOT NULL"
    _list_for_sealing(capped, with_prior=True)
    op.execute(
        f"UPDATE ledger_account SET max_balance_minor = NULL, terms_digest = NULL WHERE {capped}"
    )


def downgrade() -> None:
    greatest = "GREATEST" if op.get_bind().dialect.name == "postgresql" else "MAX"
    uncapped = f"id IN ({_DUE_ACCOUNTS}) AND max_balance_minor IS NULL"
    _list_for_sealing(uncapped, with_prior=False)
    op.execute(
        "UPDATE ledger_account SET terms_digest = NULL, max_balance_minor ="
        f" {greatest}(posted_minor + pending_credit_minor, (SELECT c.net_debit_cap_minor"
        " FROM interchange_coop c WHERE c.due_account_id = ledger_account.id),"
        " COALESCE((SELECT max(p.balance_after_minor) FROM ledger_posting p"
        " WHERE p.account_id = ledger_account.id), 0))"
        f" WHERE {uncapped}"
    )
    for column in reversed(_PRIOR):
        op.drop_column(_LIST, column.name)
