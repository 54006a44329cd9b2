"""Forecast kills through the real engine on a fake clock: a runaway behind a 5-minute
reporting lag is killed before it reaches its cap, journaled as a kill, announced as a
``forecast_kill`` and restored at the window reset like any other kill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.testing import FakeClock

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RUNAWAY_AT = START + timedelta(minutes=30)


def make(tmp_path: Path, clock: FakeClock, forecast: dict[str, Any] | None) -> daemon.Runtime:
    budget: dict[str, Any] = {
        "name": "per-key-daily",
        "provider": "sim",
        "scope": {"each": "key"},
        "window": "daily",
        "limit_usd": 10,
        "warn_at": [],
        "actions": ["simulated.disable"],
    }
    if forecast is not None:
        budget["forecast"] = forecast
    data = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
        "providers": {
            "sim": {
                "type": "simulated",
                "start": START.isoformat(),
                "lag": "5m",
                "targets": [
                    {  # $0.36/h, then $36/h from 12:30: the cap is reached at about 12:46
                        "id": "runaway",
                        "rate_usd_per_second": "0.0001",
                        "schedule": [{"at": RUNAWAY_AT.isoformat(), "rate_usd_per_second": "0.01"}],
                    },
                    {"id": "steady", "rate_usd_per_second": "0.0001"},
                ],
            }
        },
        "budgets": [budget],
    }
    return daemon.build(cfgmod.parse(data), clock=clock, identity="test")


async def run_until(rt: daemon.Runtime, clock: FakeClock, until: datetime) -> None:
    while clock.now < until:
        clock.advance(seconds=60)
        await rt.engine.cycle("sim")


def true_spend(rt: daemon.Runtime, target: str, at: datetime) -> Decimal:
    src = rt.providers["sim"].sources()["simulated"]
    return src.spent(target, at)  # type: ignore[attr-defined,no-any-return]


def events(rt: daemon.Runtime, clock: FakeClock, kind: str) -> list[dict[str, Any]]:
    return [i.event for i in rt.store.outbox_due(clock.now, 1000) if i.event["event"] == kind]


async def test_the_runaway_is_killed_on_forecast_before_its_cap(tmp_path: Path) -> None:
    clock = FakeClock(START)
    rt = make(tmp_path, clock, {"horizon": "15m", "kill": True, "min_history": "10m"})
    await run_until(rt, clock, START + timedelta(hours=2))
    kills = [(r.op, r.target, r.status) for r in rt.store.journal_rows()]
    assert kills == [("kill", "runaway", "done")]
    (row,) = rt.store.journal_rows()
    assert row.reason.startswith("forecast:")
    assert row.created_at.replace(tzinfo=UTC) > RUNAWAY_AT
    assert true_spend(rt, "runaway", clock.now) < Decimal(10)  # no overshoot at all
    (ev,) = events(rt, clock, "forecast_kill")
    assert ev["group"] == "runaway" and ev["reason"].startswith("forecast:")
    d = ev["details"]
    assert Decimal(d["projected_spend"]) >= 10 and Decimal(d["rate_per_hour"]) > 10
    assert datetime.fromisoformat(d["cap_reached_at"]) > row.created_at.replace(tzinfo=UTC)
    assert d["data_age_seconds"] == "300"
    assert events(rt, clock, "kill") == []
    # the next day: restored like any reactive kill
    await run_until(rt, clock, START.replace(hour=0) + timedelta(days=1, minutes=2))
    ops = [(r.op, r.target, r.status) for r in rt.store.journal_rows()]
    assert ops == [("kill", "runaway", "done"), ("restore", "runaway", "done")]
    assert not rt.providers["sim"].world.is_disabled("runaway")  # type: ignore[attr-defined]
    await rt.aclose()


async def test_reactive_alone_overshoots_by_the_lag(tmp_path: Path) -> None:
    """The same ramp without a forecast: killed only once the lagged data shows the breach."""
    clock = FakeClock(START)
    rt = make(tmp_path, clock, None)
    await run_until(rt, clock, START + timedelta(hours=2))
    (row,) = rt.store.journal_rows()
    assert not row.reason.startswith("forecast")
    assert true_spend(rt, "runaway", clock.now) > Decimal(12)  # 5+ minutes at $36/h past $10
    await rt.aclose()


async def test_forecast_without_kill_warns_once_and_leaves_the_kill_to_the_cap(
    tmp_path: Path,
) -> None:
    clock = FakeClock(START)
    rt = make(tmp_path, clock, {"kill": False})
    await run_until(rt, clock, START + timedelta(hours=2))
    (warning,) = events(rt, clock, "forecast_warning")
    assert warning["group"] == "runaway" and "cap_reached_at" in warning["details"]
    (row,) = rt.store.journal_rows()
    assert not row.reason.startswith("forecast")  # the reactive kill, later
    assert events(rt, clock, "forecast_warning")[0]["at"] < row.created_at.isoformat()
    await rt.aclose()
