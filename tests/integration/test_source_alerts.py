"""Alerts that mean something: a flaky source is not an outage; an outage is announced once,
after ``stale_after``, and its recovery once, only after the outage was announced."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.providers.simulated.provider import SimulatedProvider
from killswitch.state import tables as t
from killswitch.testing import FakeClock, simulated_config

FLAKY = [True, False, False, True, False, False, True, False, False, False]  # 30% failed polls


def build(tmp_path: Path, clock: FakeClock) -> daemon.Runtime:
    data = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        # poll_interval 1s, so stale_after is 3 x poll_interval = 3s
        **simulated_config(rate=0.001, start=clock.now.isoformat()),
        "notifiers": [{"type": "webhook", "url": "http://hooks.test/hook"}],
    }
    return daemon.build(cfgmod.parse(data), clock=clock, identity="t")


def announced(rt: daemon.Runtime) -> Counter[str]:
    with rt.store.engine.connect() as c:
        events = c.execute(select(t.outbox.c.event)).scalars()
        return Counter(e["event"] for e in events if e["event"].startswith("source_"))


async def polls(rt: daemon.Runtime, clock: FakeClock, fails: list[bool]) -> None:
    sim = rt.providers["sim"]
    assert isinstance(sim, SimulatedProvider)
    cfg = sim.cfg
    for fail in fails:
        cfg.fail_polls = fail
        await rt.engine.cycle("sim")
        clock.advance(seconds=1)


async def test_a_30_percent_flaky_source_raises_no_alert_and_an_outage_exactly_one(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    rt = build(tmp_path, clock)
    await polls(rt, clock, FLAKY * 7)  # 70 polls in 70 s, 21 of them failed
    assert announced(rt) == Counter()
    await polls(rt, clock, [True, True])  # 2 s without data: not yet stale_after
    assert announced(rt) == Counter()
    await polls(rt, clock, [True] * 8)  # a real outage
    assert announced(rt) == Counter({"source_stale": 1})
    await polls(rt, clock, [False] + FLAKY * 3)  # recovered, then flaky again
    assert announced(rt) == Counter({"source_stale": 1, "source_recovered": 1})
    await rt.aclose()
