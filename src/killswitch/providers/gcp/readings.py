"""What the notification stream has told us so far, per budget and billing month.

Pub/Sub delivers at least once and in no particular order, and Google re-publishes the running
total several times a day. For each (budget, ``costIntervalStart``) we keep the highest
``costAmount`` seen (ties: the later publish time), so a duplicate or a late, older message can
never lower spend. ``observed_at`` of what we report is the newest publish time seen for that key,
which only grows, so the engine's "latest observation wins" agrees with "highest cost wins".

A message that names a budget but cannot be read marks that budget's readings incomplete until a
newer readable message for the budget arrives: its figure may be the one that crossed the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from killswitch.providers.gcp.notifications import MalformedNotification, Notification


@dataclass(frozen=True, slots=True)
class Reading:
    best: Notification  # the message whose costAmount we report
    last_publish: datetime  # newest publish time seen for this key


@dataclass(frozen=True, slots=True)
class Unreadable:
    message_id: str
    publish_time: datetime | None
    reason: str


class Readings:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, datetime], Reading] = {}
        self._unreadable: dict[str, Unreadable] = {}

    def add(self, n: Notification) -> bool:
        """Merge one notification; True when it changed what we report."""
        cur = self._by_key.get(n.key)
        bad = self._unreadable.get(n.budget_id)
        if bad is not None and (bad.publish_time is None or n.publish_time >= bad.publish_time):
            del self._unreadable[n.budget_id]
        if cur is None:
            self._by_key[n.key] = Reading(n, n.publish_time)
            return True
        if n.cost.currency != cur.best.cost.currency:
            raise MalformedNotification(
                f"currency changed from {cur.best.cost.currency} to {n.cost.currency} within "
                f"the period starting {n.interval_start.isoformat()}",
                n.budget_id,
            )
        last = max(cur.last_publish, n.publish_time)
        higher = n.cost.amount > cur.best.cost.amount
        same_later = (
            n.cost.amount == cur.best.cost.amount and n.publish_time > cur.best.publish_time
        )
        best = n if higher or same_later else cur.best
        updated = Reading(best, last)
        self._by_key[n.key] = updated
        return updated != cur

    def mark_unreadable(self, budget_id: str, bad: Unreadable) -> None:
        prev = self._unreadable.get(budget_id)
        if prev is None or (
            bad.publish_time and prev.publish_time and bad.publish_time > prev.publish_time
        ):
            self._unreadable[budget_id] = bad

    def unreadable(self, budget_id: str) -> Unreadable | None:
        return self._unreadable.get(budget_id)

    def current(self, since: datetime) -> list[Reading]:
        """Readings whose period has not ended before ``since``."""
        return [r for r in self._by_key.values() if r.best.interval_end > since]

    def prune(self, before: datetime) -> None:
        for key in [k for k, r in self._by_key.items() if r.best.interval_end < before]:
            del self._by_key[key]

    def latest_publish(self) -> datetime | None:
        return max((r.last_publish for r in self._by_key.values()), default=None)
