"""Managed keys: the capped keys ``killswitch keys create`` made, enforced by the daemon.

``managed_keys``: one row per key, by its name: provider entry, the provider's key id, the ids
revoke needs (``ref``), the limit (a string, so Decimal survives), window, whether the provider
caps it natively, expiry. Never the key's secret.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "managed_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(512), nullable=False),
        sa.Column("ref", sa.JSON, nullable=False),
        sa.Column("limit_amount", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("window", sa.String(16), nullable=False),
        sa.Column("native_cap", sa.Boolean, nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("managed_keys")
