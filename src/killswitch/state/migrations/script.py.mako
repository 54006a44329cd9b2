"""${message}
"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
# The chain is these two names alone: Alembic reads branch_labels and depends_on with a default
# of None, and a "Revises:" line in the docstring is a copy that can drift (0004's did).
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
