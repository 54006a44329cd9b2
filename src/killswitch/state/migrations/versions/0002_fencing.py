"""Fencing: the lease carries an epoch and a process token; open kills get their own table.

``lease``: ``epoch`` (+1 on every takeover; intents are journaled only by the current epoch),
``token`` (one process incarnation), ``host``/``pid`` (for the "in use by" message and to take
over at once from a crashed daemon on the same host), ``acquired_at``. A lease row from before
has epoch 0 and no token, so whoever asks next takes it over (once it has expired).

``open_kills``: one row per (budget, group, action, target) killed and not yet undone; its primary
key makes a second open kill impossible whichever replica tries. Filled here from the journal:
kill rows pending, done or failed whose kill no ``done`` restore undid (the oldest when an older
version journaled two).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("lease") as b:
        b.add_column(sa.Column("epoch", sa.Integer, nullable=False, server_default="0"))
        b.add_column(sa.Column("token", sa.String(64), nullable=False, server_default=""))
        b.add_column(sa.Column("host", sa.String(256), nullable=False, server_default=""))
        b.add_column(sa.Column("pid", sa.Integer, nullable=False, server_default="0"))
        b.add_column(sa.Column("acquired_at", sa.DateTime()))
    op.create_table(
        "open_kills",
        sa.Column("budget", sa.String(128), primary_key=True),
        sa.Column("grp", sa.String(512), primary_key=True),
        sa.Column("action", sa.String(128), primary_key=True),
        sa.Column("target", sa.String(1024), primary_key=True),
        sa.Column("journal_id", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime()),
        sa.Column("actor", sa.String(256), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.execute(
        """
        INSERT INTO open_kills (budget, grp, action, target, journal_id, window_start, actor,
                                created_at)
        SELECT j.budget, j.grp, j.action, j.target, j.id, j.window_start, j.actor, j.created_at
        FROM journal j
        WHERE j.op = 'kill' AND j.status IN ('pending', 'done', 'failed')
          AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.op = 'restore' AND r.status = 'done'
                          AND r.kill_id = j.id)
          AND j.id = (SELECT MIN(k.id) FROM journal k
                      WHERE k.op = 'kill' AND k.status IN ('pending', 'done', 'failed')
                        AND k.budget = j.budget AND k.grp = j.grp AND k.action = j.action
                        AND k.target = j.target
                        AND NOT EXISTS (SELECT 1 FROM journal r2 WHERE r2.op = 'restore'
                                        AND r2.status = 'done' AND r2.kill_id = k.id))
        """
    )


def downgrade() -> None:
    op.drop_table("open_kills")
    with op.batch_alter_table("lease") as b:
        for c in ("acquired_at", "pid", "host", "token", "epoch"):
            b.drop_column(c)
