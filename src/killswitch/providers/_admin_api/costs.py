"""The billed-cost snapshot both admin-API providers read at most once per interval.

The costs/cost-report endpoints are slow to change (hours) and rate limited; the costs source and
the usage source's reconciliation share one reader, so whichever asks first pays for the read and
the other reuses it while it is younger than ``reconcile_interval`` and covers the days asked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from killswitch.errors import SourceError
from killswitch.model import PollResult

DAY = timedelta(days=1)


def floor_day(t: datetime) -> datetime:
    """Midnight UTC of ``t``'s UTC day (both APIs bucket billed cost by UTC day)."""
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class Snapshot(Protocol):
    @property
    def start(self) -> datetime: ...  # first day it holds

    @property
    def fetched_at(self) -> datetime: ...


S = TypeVar("S", bound=Snapshot)
A = TypeVar("A")  # the API client a reader reads through


class SnapshotCache(Generic[S]):
    """Keeps the last snapshot; :meth:`fresh` hands it out while it still answers a read."""

    def __init__(self, max_age: timedelta) -> None:
        self.max_age = max_age
        self.last: S | None = None

    def fresh(self, now: datetime, start: datetime) -> S | None:
        """The kept snapshot if it reaches back to ``start`` and is younger than ``max_age``."""
        c = self.last
        if c is not None and c.start <= start and now - c.fetched_at < self.max_age:
            return c
        return None

    def keep(self, snap: S) -> S:
        self.last = snap
        return snap


class BilledReader(Generic[A, S]):
    """The one reader of a billed-cost report, shared by the costs source and reconciliation.

    :meth:`read` answers from the kept snapshot while it is fresh and reads the report only
    when it is not; subclasses say how one read is made from ``api`` (:meth:`fetch`).
    """

    def __init__(self, api: A, max_age: timedelta) -> None:
        self.api = api
        self.cache: SnapshotCache[S] = SnapshotCache(max_age)

    async def read(self, now: datetime, start: datetime) -> S:
        """Billed cost from the UTC day of ``start`` on, read afresh only when the cache is stale."""
        start = floor_day(start)
        fresh = self.cache.fresh(now, start)
        if fresh is not None:
            return fresh
        return self.cache.keep(await self.fetch(now, start))

    async def fetch(self, now: datetime, start: datetime) -> S:
        """Read the report from midnight ``start`` (a UTC day) up to ``now``."""
        raise NotImplementedError


class BilledSource(Generic[S]):
    """A source that reports what its :class:`BilledReader` holds; a failed read is the poll's error."""

    name: str

    def __init__(self, reader: BilledReader[Any, S]) -> None:
        self.reader = reader

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            snap = await self.reader.read(now, since)
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        return self.report(snap, now)

    def report(self, snap: S, now: datetime) -> PollResult:
        """The observations and coverage of one snapshot."""
        raise NotImplementedError
