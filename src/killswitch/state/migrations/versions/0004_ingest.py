"""Ingest: the ``ingest_events`` table that push-ingest providers store accepted events in.

One row per accepted event; ``(provider, event_id)`` is unique, so a replayed batch is stored
once. ``bucket_start`` is the minute the event counts in (what the source and pruning read by),
``received_at`` when it arrived (the source re-reads the buckets that recent arrivals touched),
``target`` the event's dimensions as a target name.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "ingest_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("dims", sa.JSON(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(), nullable=False),
        sa.Column("amount", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "event_id", name="uq_ingest_event"),
    )
    op.create_index("ix_ingest_events_bucket", "ingest_events", ["provider", "bucket_start"])
    op.create_index("ix_ingest_events_received", "ingest_events", ["provider", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_events_received", table_name="ingest_events")
    op.drop_index("ix_ingest_events_bucket", table_name="ingest_events")
    op.drop_table("ingest_events")
