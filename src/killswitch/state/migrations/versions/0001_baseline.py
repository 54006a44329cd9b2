"""Baseline: the state schema of killswitch 0.1.0 (commit 46df619), exactly as create_all made it.

Frozen on purpose: it does not import ``killswitch.state.tables``, which moves on with the code.
Timestamps are plain ``DateTime`` (the ``UTCDateTime`` decorator stores naive UTC). Databases that
0.1.0 created without Alembic are recognised against these definitions and stamped with this
revision (``killswitch.state.schema``), so it never runs on them.
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

Item = sa.Column[object] | sa.Constraint


def _observations() -> list[Item]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_key", sa.String(80), nullable=False),
        sa.Column("start", sa.DateTime()),
        sa.Column("end", sa.DateTime()),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("amount", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("dims", sa.JSON, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.UniqueConstraint("source", "target", "kind", "period_key", name="uq_observation"),
    ]


def _per_group(document: str) -> list[Item]:
    """The two tables of one JSON document per (budget, grp) differ only in its column's name."""
    return [
        sa.Column("budget", sa.String(128), primary_key=True),
        sa.Column("grp", sa.String(512), primary_key=True),
        sa.Column(document, sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def _target_states() -> list[Item]:
    return _per_group("state")


def _budget_status() -> list[Item]:
    return _per_group("status")


def _journal() -> list[Item]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("budget", sa.String(128), nullable=False),
        sa.Column("grp", sa.String(512), nullable=False),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("prior", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime()),
        sa.Column("kill_id", sa.Integer),
        sa.Column("manual", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("spend", sa.String(64)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def _outbox() -> list[Item]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notifier", sa.String(128), nullable=False),
        sa.Column("dedup_key", sa.String(512), nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
        sa.UniqueConstraint("notifier", "dedup_key", name="uq_outbox_dedup"),
    ]


def _source_status() -> list[Item]:
    return [
        sa.Column("provider", sa.String(128), primary_key=True),
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("last_attempt", sa.DateTime()),
        sa.Column("last_success", sa.DateTime()),
        sa.Column("last_error", sa.Text),
        sa.Column("data_as_of", sa.DateTime()),
        sa.Column("coverage", sa.JSON, nullable=False),
    ]


def _lease() -> list[Item]:
    return [
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    ]


# In 0.1.0's creation order (the order of tables.py), with each table's indexes.
TABLES: dict[str, Callable[[], list[Item]]] = {
    "observations": _observations,
    "target_states": _target_states,
    "budget_status": _budget_status,
    "journal": _journal,
    "outbox": _outbox,
    "source_status": _source_status,
    "lease": _lease,
}
INDEXES: dict[str, list[tuple[str, list[str]]]] = {
    "observations": [("ix_observations_source_time", ["source", "observed_at"])],
    "journal": [
        ("ix_journal_budget_grp", ["budget", "grp"]),
        ("ix_journal_status", ["status"]),
    ],
    "outbox": [("ix_outbox_due", ["status", "next_attempt_at"])],
}


def create(name: str) -> None:
    """Create one 0.1.0 table with its indexes (also used to complete a pre-release database)."""
    op.create_table(name, *TABLES[name]())
    for ix, cols in INDEXES.get(name, []):
        op.create_index(ix, name, cols)


def upgrade() -> None:
    for name in TABLES:
        create(name)


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
