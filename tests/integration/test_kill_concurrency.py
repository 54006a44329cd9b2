"""A cycle's kills run side by side, a target's kills in plan order, and a cycle acts before it
stores its observations (what the kill latency of a 10k-key fleet rests on)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_engine import BUDGET, journal, make

from killswitch.act import executor as executor_mod
from killswitch.act.executor import KILL_CONCURRENCY, Acted
from killswitch.testing import FakeClock

FLEET = [{"id": f"k{i:02}", "rate_usd_per_second": 0.05} for i in range(12)]  # all over in 10 min


class Calls:
    """Wraps the executor's provider call: how many are in flight, and when each ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: str | None = None) -> None:
        self.inflight = 0
        self.most = 0
        self.spans: list[tuple[str, str, int, int]] = []  # (budget, target, start, end) ticks
        self.tick = 0
        real = executor_mod.run_op

        async def run_op(op: Any, provider: Any, ctx: Any, **kw: Any) -> Any:
            self.inflight += 1
            self.most = max(self.most, self.inflight)
            start = self.tick = self.tick + 1
            try:
                await asyncio.sleep(0.02)
                if op.target == fail:
                    raise RuntimeError("lease lost (simulated)")
                return await real(op, provider, ctx, **kw)
            finally:
                self.inflight -= 1
                self.tick += 1
                self.spans.append((ctx.budget, op.target, start, self.tick))

        monkeypatch.setattr(executor_mod, "run_op", run_op)


def emitted(rt: Any) -> list[Acted]:
    out: list[Acted] = []
    real = rt.engine.emit

    def emit(acted: Acted) -> None:
        out.append(acted)
        real(acted)

    rt.engine.emit = emit
    return out


async def test_a_cycles_kills_run_side_by_side_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock, targets=FLEET)
    calls = Calls(monkeypatch)
    acted = emitted(rt)
    clock.advance(minutes=10)
    await rt.engine.cycle("sim")
    assert calls.most == KILL_CONCURRENCY > 1  # 12 kills: 8 at once, never more
    assert sorted(journal(rt)) == [("kill", t["id"], "done") for t in FLEET]
    assert sum(1 for a in acted for e in a.events if e.kind == "kill") == len(FLEET)
    world = rt.providers["sim"].world  # type: ignore[attr-defined]
    assert all(world.is_disabled(t["id"]) for t in FLEET)


async def test_two_budgets_killing_one_target_run_in_plan_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    second = {**BUDGET, "name": "per-key-b", "limit_usd": 5}
    rt = make(tmp_path, clock, targets=FLEET[:1], top={"budgets": [BUDGET, second]})
    calls = Calls(monkeypatch)
    clock.advance(minutes=10)
    await rt.engine.cycle("sim")
    (a, b) = sorted(calls.spans, key=lambda s: s[2])
    assert a[1] == b[1] == "k00" and a[3] <= b[2]  # the second started after the first ended
    priors = [r.prior for r in sorted(rt.store.journal_rows(), key=lambda r: r.id)]
    assert priors == [{"disabled": False}, {"disabled": True}]  # it read what the first left


async def test_a_kill_that_raises_does_not_hide_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock, targets=FLEET[:4])
    Calls(monkeypatch, fail="k01")
    acted = emitted(rt)
    clock.advance(minutes=10)
    with pytest.raises(RuntimeError, match="lease lost"):
        await rt.engine.cycle("sim")
    rows = dict((t, s) for _, t, s in journal(rt))
    assert rows == {"k00": "done", "k01": "pending", "k02": "done", "k03": "done"}
    killed = {e.group for a in acted for e in a.events if e.kind == "kill"}
    assert killed == {"k00", "k02", "k03"}  # announced although a kill beside them raised


async def test_a_cycle_stores_its_observations_after_it_acts(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock)
    clock.advance(minutes=20)
    engine, since = rt.engine, clock.now.replace(minute=0)
    polls = await engine.poll("sim", clock.now)
    engine.record("sim", polls, clock.now, defer=True)
    assert engine.ledger.observations("simulated")  # evaluation has them
    assert rt.store.load_observations("simulated", since) == []  # the store not yet
    engine.store_polls(polls, clock.now)
    assert rt.store.load_observations("simulated", since)
