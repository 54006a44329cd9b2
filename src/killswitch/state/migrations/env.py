"""Alembic environment: runs on the connection (or, for ``--sql``, the dialect) it is handed.

``killswitch.state.schema`` opens the connection, takes the migration lock and begins the
transaction before calling Alembic, so every revision of one upgrade commits (or not) together.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from killswitch.state.tables import UTCDateTime, metadata

config = context.config
connection = config.attributes.get("connection")


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Drafts name plain types: a revision must not import the models, which move on."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


if context.is_offline_mode():
    context.configure(
        dialect_name=config.attributes["dialect"],
        literal_binds=True,
        target_metadata=metadata,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: autogenerate batch blocks
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
