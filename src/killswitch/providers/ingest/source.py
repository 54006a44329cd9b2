"""The stored events as a spend source: one ``bucket`` observation per target and minute.

A poll re-reads only the minutes that events received lately fall in (the first poll after a
start reads them all), so a busy endpoint costs per poll what it received, not what it keeps.
"Lately" reaches ``RESCAN`` before the previous poll: an event whose transaction was still open
when that poll read (PostgreSQL commits out of order) is read by this one. Bucket observations
replace earlier readings of the same minute, so reading a minute twice is harmless.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from killswitch.model import ObservationKind, PollResult
from killswitch.providers._rows import Row, observations
from killswitch.providers.ingest import events
from killswitch.providers.ingest.batch import BUCKET
from killswitch.state import Store

# Longer than any ingest transaction can stay open (the statement timeout is 30 s) plus the clock
# skew between replicas that take pushes (each stamps received_at with its own clock).
RESCAN = timedelta(minutes=5)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class EventSource:
    def __init__(self, store: Store | None, provider: str, name: str) -> None:
        self.store = store
        self.provider = provider
        self.name = name
        self._last_read: datetime | None = None  # wall time of the previous poll's read
        # Buckets before this are neither read nor kept: the listener prunes their events.
        self.prune_before: datetime | None = None

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        if self.store is None:
            return PollResult(self.name, error="ingest needs the daemon's state store")
        try:
            return await asyncio.to_thread(self._poll, self.store, now, since)
        except SQLAlchemyError as exc:  # the message may name the database URL: type only
            return PollResult(self.name, error=f"reading ingest events: {type(exc).__name__}")

    def _poll(self, store: Store, now: datetime, since: datetime) -> PollResult:
        start = since.astimezone(UTC).replace(second=0, microsecond=0)
        read_at = wall_clock()
        if self._last_read is None:
            sums = events.buckets(store, self.provider, start)
        else:
            keys = events.touched(store, self.provider, self._last_read - RESCAN, start)
            sums = events.buckets(store, self.provider, start, keys) if keys else []
        self._last_read = read_at
        self.prune_before = start
        rows = [
            Row(s.dims, s.amount, s.currency, start=s.start, end=s.start + BUCKET) for s in sums
        ]
        obs = observations(self.name, ObservationKind.BUCKET, rows, now)
        return PollResult(self.name, obs, data_as_of=now)
