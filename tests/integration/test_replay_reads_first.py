"""A replayed kill reads before it writes: ``Action.applied`` True journals it done unsent,
False or None (cannot tell, or the read failed) performs the idempotent write as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.act import executor
from killswitch.cli import app
from killswitch.providers.simulated.provider import SimulatedDisable, SimulatedProvider
from killswitch.testing import FakeClock


class Crash(BaseException):
    """The process dies right after the intent is journaled (nothing catches it)."""


def config(tmp_path: Path, clock: FakeClock) -> dict[str, Any]:
    return {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "sim": {
                "type": "simulated",
                "start": clock.now.isoformat(),
                "state_file": str(tmp_path / "world.json"),
                "targets": [{"id": "fast", "rate_usd_per_second": 0.01}],
            }
        },
        "budgets": [
            {
                "name": "per-key",
                "provider": "sim",
                "scope": {"each": "key"},
                "window": "interval:1h",
                "limit_usd": 10,
                "actions": ["simulated.disable"],
                "restore": "on_reset",
            }
        ],
        "notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    }


def make(tmp_path: Path, clock: FakeClock) -> daemon.Runtime:
    return daemon.build(cfgmod.parse(config(tmp_path, clock)), clock=clock, identity="test")


async def crash_mid_kill(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, *, landed: bool
) -> None:
    """Breach, journal the kill intent, die in the provider call (which ``landed`` or not)."""
    rt = make(tmp_path, clock)
    world = rt.providers["sim"]
    assert isinstance(world, SimulatedProvider)

    async def dies(op: Any, provider: Any, ctx: Any, **_: Any) -> Any:
        if landed:
            world.world.set_disabled(op.target, True, ctx.now, "disable")
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(executor, "run_op", dies)
        clock.advance(minutes=20)  # $12 > $10
        with pytest.raises(Crash):
            await rt.engine.cycle("sim")
    assert [(r.op, r.status) for r in rt.store.journal_rows()] == [("kill", "pending")]


def calls(tmp_path: Path) -> list[str]:
    return [c["op"] for c in json.loads((tmp_path / "world.json").read_text())["calls"]]


def actions(rt: daemon.Runtime, result: str) -> float:
    value = rt.metrics.registry.get_sample_value(
        "killswitch_actions_total", {"action": "simulated.disable", "result": result}
    )
    return value or 0.0


def kill_summaries(rt: daemon.Runtime, clock: FakeClock) -> list[str]:
    return [
        i.event["summary"] for i in rt.store.outbox_due(clock.now) if i.event["event"] == "kill"
    ]


async def test_replay_of_a_kill_already_applied_is_journaled_done_and_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    await crash_mid_kill(tmp_path, clock, monkeypatch, landed=True)
    assert calls(tmp_path) == ["disable"]
    rt = make(tmp_path, clock)  # the restart
    assert await rt.engine.resume(clock.now) == 1
    assert calls(tmp_path) == ["disable"]  # read, not written again
    (row,) = rt.store.journal_rows()
    assert (row.status, row.error) == ("done", "replayed: already applied")
    assert actions(rt, "already_applied") == 1 and actions(rt, "success") == 0
    (summary,) = kill_summaries(rt, clock)
    assert "already showed it applied" in summary
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config(tmp_path, clock)))
    shown = CliRunner().invoke(app, ["history", "-c", str(cfg)])
    assert shown.exit_code == 0, shown.output
    assert "done      simulated.disable on fast" in shown.output
    assert "note: replayed: already applied" in shown.output and "error:" not in shown.output
    # The kill is open as any other: the next window's restore undoes it.
    clock.advance(hours=1)
    await rt.engine.cycle("sim")
    assert calls(tmp_path) == ["disable", "enable"]
    assert [(r.op, r.status) for r in rt.store.journal_rows()] == [
        ("kill", "done"),
        ("restore", "done"),
    ]


async def test_replay_of_a_kill_not_applied_performs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    await crash_mid_kill(tmp_path, clock, monkeypatch, landed=False)
    assert not (tmp_path / "world.json").exists() or calls(tmp_path) == []
    rt = make(tmp_path, clock)
    assert await rt.engine.resume(clock.now) == 1
    assert calls(tmp_path) == ["disable"]
    (row,) = rt.store.journal_rows()
    assert (row.status, row.error) == ("done", None)
    assert actions(rt, "success") == 1 and actions(rt, "already_applied") == 0
    (summary,) = kill_summaries(rt, clock)
    assert "the journal replayed it" in summary


@pytest.mark.parametrize("answer", ["cannot tell", "read fails"])
async def test_replay_that_cannot_read_performs_the_idempotent_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    clock = FakeClock()
    await crash_mid_kill(tmp_path, clock, monkeypatch, landed=True)

    async def unknown(self: Any, provider: Any, target: str, params: Any) -> bool | None:
        if answer == "read fails":
            raise RuntimeError("GET timed out")
        return None

    monkeypatch.setattr(SimulatedDisable, "applied", unknown)
    rt = make(tmp_path, clock)
    assert await rt.engine.resume(clock.now) == 1
    assert calls(tmp_path) == ["disable", "disable"]  # written again, harmlessly
    (row,) = rt.store.journal_rows()
    assert (row.status, row.error) == ("done", None)
    assert actions(rt, "success") == 1
