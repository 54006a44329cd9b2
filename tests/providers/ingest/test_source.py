"""Stored events as per-minute bucket observations; re-reads of late events; what is pruned."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.model import ObservationKind, PollResult
from killswitch.pricing import PriceBook
from killswitch.providers.ingest import events as ev
from killswitch.providers.ingest.batch import parse
from killswitch.providers.ingest.source import EventSource
from killswitch.state import Store
from killswitch.testing import FakeClock

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def push(store: Store, *evs: tuple[str, datetime, str, str], now: datetime = T0) -> ev.Stored:
    body = {
        "events": [
            {
                "id": i,
                "time": at.isoformat(),
                "dims": {"key": key},
                "amount": amt,
                "currency": "USD",
            }
            for i, at, key, amt in evs
        ]
    }
    rows = parse(
        json.dumps(body).encode(), max_events=100, currency="USD", prices=PriceBook(), now=now
    )
    return ev.store_batch(store, "push", rows, now)


def totals(result: PollResult) -> dict[tuple[str, str], Decimal]:
    assert result.ok, result.error
    out = {}
    for o in result.observations:
        assert o.kind is ObservationKind.BUCKET and o.start is not None and o.end is not None
        assert o.end - o.start == timedelta(minutes=1)
        out[(o.target, o.start.strftime("%H:%M"))] = o.amount.amount
    return out


async def test_events_are_summed_per_target_and_minute(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    push(
        store,
        ("a", T0 + timedelta(seconds=5), "k1", "1.50"),
        ("b", T0 + timedelta(seconds=55), "k1", "0.25"),
        ("c", T0 + timedelta(minutes=1, seconds=1), "k1", "2"),
        ("d", T0 + timedelta(seconds=30), "k2", "0.10"),
        ("old", T0 - timedelta(days=2), "k1", "100"),  # before every window: never read
    )
    src = EventSource(store, "push", "events")
    result = await src.poll(T0 + timedelta(minutes=5), T0 - timedelta(hours=1))
    assert totals(result) == {
        ("key=k1", "10:00"): Decimal("1.75"),
        ("key=k1", "10:01"): Decimal(2),
        ("key=k2", "10:00"): Decimal("0.10"),
    }
    (k2,) = [o for o in result.observations if o.target == "key=k2"]
    assert dict(k2.dims) == {"key": "k2"}
    assert src.prune_before == T0 - timedelta(hours=1)
    store.close()


async def test_a_later_poll_rereads_only_the_minutes_new_events_fall_in(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    push(store, ("a", T0, "k1", "1"), ("b", T0 + timedelta(minutes=3), "k2", "1"))
    src = EventSource(store, "push", "events")
    since = T0 - timedelta(hours=1)
    assert len((await src.poll(T0 + timedelta(minutes=5), since)).observations) == 2
    # a late event for k1's minute, received now: that minute is re-read whole
    push(store, ("late", T0 + timedelta(seconds=20), "k1", "0.5"), now=datetime.now(UTC))
    assert totals(await src.poll(T0 + timedelta(minutes=6), since)) == {
        ("key=k1", "10:00"): Decimal("1.5")
    }
    store.close()


async def test_a_source_without_a_store_is_an_error_not_zero() -> None:
    result = await EventSource(None, "push", "events").poll(T0, T0 - timedelta(hours=1))
    assert not result.ok and result.error == "ingest needs the daemon's state store"


def test_pruning_drops_only_minutes_before_the_cutoff(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    push(store, ("a", T0 - timedelta(seconds=1), "k1", "1"), ("b", T0, "k1", "1"))
    assert ev.prune(store, "push", T0) == 1
    assert ev.count(store, "push") == 1
    # a pruned id may come again (it counts before every window, and is pruned again)
    assert push(store, ("a", T0 - timedelta(seconds=1), "k1", "1")).accepted == 1
    store.close()


async def test_pushed_spend_over_a_budget_trips_the_webhook_kill(tmp_path: Path) -> None:
    """In process: the engine reads what the endpoint stored and kills the key over its limit."""
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))
    clock = FakeClock(T0 + timedelta(hours=1))
    data: dict[str, Any] = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {"push": {"type": "ingest", "tokens": ["t" * 32], "listen": "127.0.0.1:0"}},
        "budgets": [
            {
                "name": "per-key-daily",
                "provider": "push",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 5,
                "actions": [{"type": "webhook", "url": "https://ops.example/kill"}],
            }
        ],
    }
    rt = daemon.build(cfgmod.parse(data), clock=clock, transport=transport, identity="t")
    push(rt.store, ("a", T0, "k1", "4.00"), ("b", T0, "k2", "1"), now=clock())
    await rt.engine.cycle("push")
    assert seen == []
    push(rt.store, ("c", T0 + timedelta(minutes=30), "k1", "1.01"), now=datetime.now(UTC))
    await rt.engine.cycle("push")
    (kill,) = seen
    body = json.loads(kill.content)
    assert (str(kill.url), body["op"], body["spend"]) == (
        "https://ops.example/kill",
        "kill",
        "5.01",
    )
    assert (body["group"], body["target"]) == ("k1", "k1")
    await rt.aclose()
