"""The billed-cost snapshot both admin-API providers read at most once per interval.

The costs/cost-report endpoints are slow to change (hours) and rate limited; the costs source and
the usage source's reconciliation share one reader, so whichever asks first pays for the read and
the other reuses it while it is younger than ``reconcile_interval`` and covers the days asked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

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
