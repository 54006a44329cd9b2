"""Overrides: a manual restore that holds (the group is not killed again until ``until``).

``overrides``: one row per (budget, group), replaced by a newer override of the same group and
deleted when lifted (``killswitch override clear``) or once expired. Nothing to fill: no
override exists before this revision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("budget", sa.String(128), primary_key=True),
        sa.Column("grp", sa.String(512), primary_key=True),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("journal_id", sa.Integer),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("overrides")
