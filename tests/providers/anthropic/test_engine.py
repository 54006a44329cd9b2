"""The real engine in-process (FakeClock) against the fake Admin API: one key over its daily cap
is deactivated with its prior status journaled, the others untouched; the next day restores it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.testing import FakeClock

from .conftest import Mono
from .fake import FakeAnthropic, api_key, usage_result

KEYS = [f"apikey_01Engine{i}" for i in range(3)]
WS = "wrkspc_01Engine"


def runtime(tmp_path: Path, clock: FakeClock, fake: FakeAnthropic, **budget: Any) -> daemon.Runtime:
    data = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "anthropic": {
                "type": "anthropic",
                "admin_key": fake.admin_key,
                "base_url": "http://127.0.0.1:9",  # served by the MockTransport
                "poll_interval": "60s",
            }
        },
        "budgets": [
            {
                "name": "anthropic-key-daily",
                "provider": "anthropic",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 40,
                "fail_closed": True,
                "actions": ["anthropic.deactivate-key"],
                "restore": "on_reset",
                **budget,
            }
        ],
    }
    rt = daemon.build(cfgmod.parse(data), clock=clock, transport=fake.transport(), identity="t")
    p = rt.providers["anthropic"]
    p.api.http.pacer.interval = 0  # type: ignore[attr-defined]
    p.api.gate.clock = Ticking()  # type: ignore[attr-defined]
    return rt


class Ticking(Mono):
    """Each cycle is a minute after the last: the gate never holds a poll back here."""

    def __call__(self) -> float:
        self.t += 61
        return self.t


def dollars(usd: int) -> dict[str, int]:
    return {"uncached": usd * 1_000_000 // 3}  # Sonnet 4 input is $3 per million


async def test_one_key_over_its_cap_is_deactivated_and_restored_next_day(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fake = FakeAnthropic(clock=clock)
    for k in KEYS:
        fake.keys[k] = api_key(k, workspace=WS)
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    fake.add_usage(t0, usage_result(KEYS[0], WS, **dollars(12)))
    fake.add_usage(t0, usage_result(KEYS[1], WS, **dollars(30)))
    fake.add_usage(t0 + timedelta(minutes=30), usage_result(KEYS[2], WS, **dollars(36)))
    fake.add_usage(t0, usage_result(None, None, **dollars(39)))  # Workbench, under the cap
    rt = runtime(tmp_path, clock, fake)
    await rt.engine.cycle("anthropic")
    assert rt.store.journal_rows() == [] and fake.posts == []

    fake.add_usage(
        datetime(2026, 11, 23, 10, 1, tzinfo=UTC), usage_result(KEYS[2], WS, **dollars(6))
    )
    clock.advance(minutes=3)
    await rt.engine.cycle("anthropic")
    (kill,) = rt.store.journal_rows()
    assert (kill.op, kill.target, kill.status, kill.prior) == (
        "kill",
        KEYS[2],
        "done",
        {"status": "active"},
    )
    assert [k["status"] for k in fake.keys.values()] == ["active", "active", "inactive"]
    statuses = {s.group: s for s in rt.metrics.snapshot.statuses["anthropic-key-daily"]}
    assert statuses[KEYS[2]].state.value == "killed"
    assert statuses[KEYS[2]].spend is not None and round(statuses[KEYS[2]].spend.amount, 2) == 42
    assert statuses["workbench"].state.value == "warning"

    clock.now = datetime(2026, 11, 24, 0, 2, tzinfo=UTC)  # the next day: nothing spent yet
    await rt.engine.cycle("anthropic")
    ops = sorted((r.op, r.target, r.status) for r in rt.store.journal_rows())
    assert ops == [("kill", KEYS[2], "done"), ("restore", KEYS[2], "done")]
    assert [k["status"] for k in fake.keys.values()] == ["active"] * 3
    assert fake.posts == [(KEYS[2], {"status": "inactive"}), (KEYS[2], {"status": "active"})]
    await rt.aclose()


async def test_workbench_over_its_cap_fails_loudly(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fake = FakeAnthropic(clock=clock)
    fake.add_usage(
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC), usage_result(None, None, **dollars(45))
    )
    rt = runtime(tmp_path, clock, fake)
    events: list[Any] = []
    rt.engine.enqueue = events.append
    await rt.engine.cycle("anthropic")
    assert rt.store.journal_rows() == [] and fake.posts == []
    (failed,) = [e for e in events if e.kind == "kill_failed"]
    assert failed.group == "workbench" and "Workbench has no API key" in failed.summary
    await rt.aclose()
