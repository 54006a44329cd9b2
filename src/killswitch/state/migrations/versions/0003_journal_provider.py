"""Journal rows record the provider each action went through.

A budget across providers (``sources:``) acts through several providers, so a kill row names
the one its target belongs to, and its restore goes back through the same one. Rows from before
keep ``""``: they were all made through their budget's one provider, which is what ``""`` means.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("journal") as b:
        b.add_column(sa.Column("provider", sa.String(128), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("journal") as b:
        b.drop_column("provider")
