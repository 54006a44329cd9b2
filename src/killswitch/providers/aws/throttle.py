"""Reuse a source's last answer between real calls.

Cost Explorer bills $0.01 per request and Budgets only recomputes spend every 8-12 hours, so
polling either every minute wastes money or quota without adding information. A source asks
:class:`Throttle` first; inside the minimum interval it returns the cached :class:`PollResult`
(observations are keyed by target and period, so re-recording them is harmless). A change of
``key`` (the queried period) always forces a real call: a new month must not wait an hour.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, timedelta

from killswitch.model import PollResult


class Throttle:
    def __init__(self, min_interval: timedelta, error_retry: timedelta | None = None) -> None:
        self.min_interval = min_interval
        self.error_retry = min(error_retry or min_interval, min_interval)
        self._key: Hashable | None = None
        self._at: datetime | None = None
        self._result: PollResult | None = None
        self.calls = 0

    def cached(self, key: Hashable, now: datetime) -> PollResult | None:
        if self._result is None or self._at is None or key != self._key:
            return None
        wait = self.min_interval if self._result.ok else self.error_retry
        if now - self._at < wait and now >= self._at:
            return self._result
        return None

    def remember(self, key: Hashable, now: datetime, result: PollResult) -> PollResult:
        self.calls += 1
        self._key, self._at, self._result = key, now, result
        return result
