"""The state schema. Amounts are stored as strings so Decimal survives every backend exactly."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on every backend (SQLite drops zones otherwise)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()


def _group_key() -> list[Column[Any]]:
    """A budget group's key, ``(budget, grp)``: the primary key (or its start) of each table that
    holds something per group."""
    return [
        Column("budget", String(128), primary_key=True),
        Column("grp", String(512), primary_key=True),
    ]


def _per_group(name: str, document: str) -> Table:
    """A table of one JSON document per budget group, replaced in place at ``updated_at``."""
    return Table(
        name,
        metadata,
        *_group_key(),
        Column(document, JSON, nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    )


observations = Table(
    "observations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(128), nullable=False),
    Column("target", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    # start|end for to_date and bucket (latest replaces), observed_at for counter samples
    Column("period_key", String(80), nullable=False),
    Column("start", UTCDateTime()),
    Column("end", UTCDateTime()),
    Column("observed_at", UTCDateTime(), nullable=False),
    Column("amount", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("dims", JSON, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("note", Text, nullable=False, default=""),
    UniqueConstraint("source", "target", "kind", "period_key", name="uq_observation"),
)
Index("ix_observations_source_time", observations.c.source, observations.c.observed_at)

target_states = _per_group("target_states", "state")
budget_status = _per_group("budget_status", "status")

journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("budget", String(128), nullable=False),
    Column("grp", String(512), nullable=False),
    Column("target", String(1024), nullable=False),
    Column("action", String(128), nullable=False),
    # the provider the action went through (a budget across providers has several); "" before
    Column("provider", String(128), nullable=False, server_default=""),
    Column("op", String(16), nullable=False),  # kill | restore
    # pending -> done | failed; failed -> abandoned (superseded by a restore); dry_run is final
    # on creation (values: killswitch.act.journal.JournalStatus)
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("prior", JSON),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("window_start", UTCDateTime()),
    Column("kill_id", Integer),  # for restore rows: the kill row being undone
    Column("manual", Boolean, nullable=False, default=False),
    Column("actor", String(256), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("spend", String(64)),  # the spend that triggered it, for replayed announcements
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
Index("ix_journal_budget_grp", journal.c.budget, journal.c.grp)
Index("ix_journal_status", journal.c.status)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notifier", String(128), nullable=False),
    Column("dedup_key", String(512), nullable=False),
    Column("event", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    UniqueConstraint("notifier", "dedup_key", name="uq_outbox_dedup"),
)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)

source_status = Table(
    "source_status",
    metadata,
    Column("provider", String(128), primary_key=True),
    Column("source", String(128), primary_key=True),
    Column("last_attempt", UTCDateTime()),
    Column("last_success", UTCDateTime()),
    Column("last_error", Text),
    Column("data_as_of", UTCDateTime()),
    Column("coverage", JSON, nullable=False),
)

lease = Table(
    "lease",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),  # the replica's identity, for people
    Column("expires_at", UTCDateTime(), nullable=False),  # database time
    # The fencing token: +1 on every takeover. An intent is journaled only by the current epoch.
    Column("epoch", Integer, nullable=False, server_default="0"),
    Column("token", String(64), nullable=False, server_default=""),  # one process incarnation
    Column("host", String(256), nullable=False, server_default=""),
    Column("pid", Integer, nullable=False, server_default="0"),
    Column("acquired_at", UTCDateTime()),
)

# One row per (budget, group, action, target) that killswitch has killed and not yet undone: the
# primary key makes a second kill of the same thing impossible, whichever replica tries it.
open_kills = Table(
    "open_kills",
    metadata,
    *_group_key(),
    Column("action", String(128), primary_key=True),
    Column("target", String(1024), primary_key=True),
    Column("journal_id", Integer, nullable=False),
    Column("window_start", UTCDateTime()),
    Column("actor", String(256), nullable=False, server_default=""),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Spend events pushed to an ``ingest`` provider, kept while a budget window can still need them.
# The unique key makes a replayed batch store each event once.
ingest_events = Table(
    "ingest_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(128), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("target", String(512), nullable=False),
    Column("dims", JSON, nullable=False),
    Column("time", UTCDateTime(), nullable=False),
    Column("bucket_start", UTCDateTime(), nullable=False),  # the minute the event counts in
    Column("amount", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    UniqueConstraint("provider", "event_id", name="uq_ingest_event"),
)
Index("ix_ingest_events_bucket", ingest_events.c.provider, ingest_events.c.bucket_start)
Index("ix_ingest_events_received", ingest_events.c.provider, ingest_events.c.received_at)

# Keys made by ``killswitch keys create``: what the daemon enforces without a config edit. The
# secret is never here: it is printed once by the command and kept nowhere.
managed_keys = Table(
    "managed_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("provider", String(128), nullable=False),
    Column("key_id", String(512), nullable=False),
    Column("ref", JSON, nullable=False),  # what revoke and enforcement need (ids, no secret)
    Column("limit_amount", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("window", String(16), nullable=False),
    Column("native_cap", Boolean, nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One row per (budget, group) an operator restored while it was still over its limit: until
# ``until`` the group is not killed again (see killswitch.model.Override). Expired rows are
# pruned every cycle; ``journal_id`` is the journal row that recorded it.
overrides = Table(
    "overrides",
    metadata,
    *_group_key(),
    Column("until", UTCDateTime(), nullable=False),
    Column("actor", String(256), nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("journal_id", Integer),
    Column("created_at", UTCDateTime(), nullable=False),
)


def insert(dialect: str, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL spell it alike). The
    dialect module is imported on first use, so a SQLite daemon never loads PostgreSQL's (2.7 MB
    of its idle memory)."""
    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(table)
