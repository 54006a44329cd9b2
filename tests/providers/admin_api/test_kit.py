"""The LLM-admin kit: the drift alert rule (tested once, for both providers), pages, cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from killswitch.errors import SourceError
from killswitch.providers._admin_api.costs import SnapshotCache, floor_day
from killswitch.providers._admin_api.pages import follow
from killswitch.providers._admin_api.reconcile import (
    Estimate,
    Subject,
    reconcile,
    should_alert,
)

USD, RATIO = D(1), D("0.05")


@pytest.mark.parametrize(
    ("drift", "billed", "alert"),
    [
        (D("0.40"), D("0.50"), False),  # over 5% but under $1: small-day noise
        (D(3), D(900), False),  # over $1 but within 5% of a big day: rounding
        (D(-60), D(900), True),  # both bounds: under-estimate by $60
        (D("1.01"), D(0), True),  # nothing billed: the absolute bound alone decides
        (D("0.99"), D(0), False),
        (D(0), D(0), False),
        (D(5), D(-5), True),  # a credit day is compared with |billed|, not a negative bound
        (D("1.10"), D(-40), False),
    ],
)
def test_alert_needs_both_bounds(drift: D, billed: D, alert: bool) -> None:
    assert should_alert(drift, billed, USD, RATIO) is alert


def test_reconcile_gauges_every_scope_and_alerts_once_per_day() -> None:
    subject = Subject("workspace", "Anthropic workspace", "anthropic.usage")
    est = {("w1", "2026-01-01"): Estimate(D(10), True), ("w2", "2026-01-01"): Estimate(D(9), False)}
    billed = {("w1", "2026-01-01"): D(20), ("w3", "2026-01-01"): D(2), ("w1", "2026-01-02"): D(1)}
    drift = reconcile(subject, est, billed, ["2026-01-01"], USD, RATIO)
    g = drift.gauges["estimate_drift_usd"]
    assert g == {
        (("workspace", "w1"), ("day", "2026-01-01")): D(-10),
        (("workspace", "w3"), ("day", "2026-01-01")): D(-2),  # billed, never estimated
    }  # w2 is left out: an incomplete estimate would report false drift; 01-02 not asked
    assert [e.dedup_key for e in drift.events] == ["drift:w1:2026-01-01", "drift:w3:2026-01-01"]
    assert drift.events[0].details["workspace"] == "w1"
    assert "under-estimate by $10.00" in drift.events[0].summary


async def test_follow_refuses_a_cursor_that_does_not_advance_or_too_many_pages() -> None:
    async def stuck(cursor: str | None) -> tuple[int, bool, str | None]:
        return 1, True, "same"

    with pytest.raises(SourceError, match="next_page did not advance"):
        await follow(stuck, "GET /x", 10, "next_page")

    async def endless(cursor: str | None) -> tuple[int, bool, str | None]:
        return 1, True, str(int(cursor or 0) + 1)

    with pytest.raises(SourceError, match="more than 3 pages"):
        await follow(endless, "GET /x", 3, "next_page")

    async def two(cursor: str | None) -> tuple[str, bool, str | None]:
        return (cursor or "first"), cursor is None, "second"

    assert await follow(two, "GET /x", 3, "next_page") == ["first", "second"]


@dataclass(frozen=True)
class Snap:
    start: datetime
    fetched_at: datetime


def test_snapshot_cache_serves_only_fresh_covering_snapshots() -> None:
    t0 = datetime(2026, 1, 10, 15, tzinfo=UTC)
    cache: SnapshotCache[Snap] = SnapshotCache(timedelta(hours=1))
    assert cache.fresh(t0, floor_day(t0)) is None
    snap = cache.keep(Snap(floor_day(t0) - timedelta(days=3), t0))
    assert cache.fresh(t0 + timedelta(minutes=59), floor_day(t0)) is snap
    assert cache.fresh(t0 + timedelta(hours=1), floor_day(t0)) is None  # too old
    assert cache.fresh(t0, floor_day(t0) - timedelta(days=4)) is None  # does not reach back
    assert floor_day(datetime(2026, 1, 10, 1, tzinfo=UTC) + timedelta(hours=-2)) == datetime(
        2026, 1, 9, tzinfo=UTC
    )
