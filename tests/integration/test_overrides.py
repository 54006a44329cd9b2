"""Overrides through the real engine and the real CLI commands, on a fake clock.

The "daemon" is a runtime whose cycles the test runs; the operator's commands are the CLI's own
(``restore``, ``kill``, ``override list|clear``, ``status``, ``history``), built on the same
config, state and simulated world, with the same fake clock.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from killswitch import cli, daemon
from killswitch import config as cfgmod
from killswitch.testing import FakeClock

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[|^\{")


class World:
    """One config file, the daemon's runtime, and the CLI as an operator runs it."""

    def __init__(self, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = clock
        self.path = tmp_path / "c.yaml"
        data = {
            "state": f"sqlite:///{tmp_path / 's.db'}",
            "providers": {
                "sim": {
                    "type": "simulated",
                    "start": clock.now.isoformat(),
                    "state_file": str(tmp_path / "world.json"),
                    "targets": [
                        {"id": "fast", "rate_usd_per_second": 0.01},
                        {"id": "slow", "rate_usd_per_second": 0.001},
                    ],
                }
            },
            "notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
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
        }
        self.path.write_text(yaml.safe_dump(data))
        self.sent: list[dict[str, Any]] = []

        def hook(request: httpx.Request) -> httpx.Response:
            self.sent.append(json.loads(request.content))
            return httpx.Response(200)

        transport = httpx.MockTransport(hook)
        build = functools.partial(daemon.build, clock=clock, identity="daemon", transport=transport)
        self.rt = build(cfgmod.load(self.path))
        # every CLI command builds its runtime with the test's clock
        monkeypatch.setattr(daemon, "build", lambda cfg, **kw: build(cfg))
        monkeypatch.setattr(daemon, "system_clock", clock)
        monkeypatch.setenv("USER", "oncall")

    def cycle(self, minutes: float = 0) -> None:
        self.clock.advance(minutes=minutes)
        asyncio.run(self.rt.engine.cycle("sim"))

    def cli(self, *args: str, code: int = 0) -> str:
        res = CliRunner().invoke(cli.app, [args[0], *args[1:]])
        out = res.stdout + (res.stderr if res.stderr_bytes is not None else "")
        assert res.exit_code == code, out
        assert "Traceback" not in out
        # in-process, the daemon's logging is on (the real command quiets it: tests/e2e)
        return "".join(ln for ln in res.stdout.splitlines(True) if not LOG_LINE.match(ln))

    def kills(self, target: str = "fast") -> int:
        return sum(1 for r in self.rt.store.journal_rows() if r.op == "kill" and r.target == target)

    def disabled(self, target: str) -> bool:
        world = self.rt.providers["sim"].world  # type: ignore[attr-defined]
        world._load()  # the CLI wrote it from its own runtime
        return bool(world.is_disabled(target))

    def gauge(self) -> float | None:
        return self.rt.engine.metrics.registry.get_sample_value(
            "killswitch_overrides_active", {"budget": "per-key"}
        )


@pytest.fixture
def w(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, FakeClock(), monkeypatch)


def killed_fast(w: World) -> None:
    w.cycle(17)  # fast: $10.20 of $10 -> killed
    assert w.kills() == 1 and w.disabled("fast")


def test_a_manual_restore_holds_until_the_window_resets(w: World) -> None:
    killed_fast(w)
    out = w.cli("restore", "-c", str(w.path), "per-key", "--target", "fast", "--reason", "demo")
    assert "override set: override until 2026-11-23T13:00:00+00:00, by oncall: demo" in out
    assert not w.disabled("fast")
    for _ in range(3):  # still over its limit, and not killed again
        w.cycle(5)
        assert w.kills() == 1 and not w.disabled("fast")
    assert w.gauge() == 1
    status = w.cli("status", "-c", str(w.path), code=0)
    (line,) = [ln for ln in status.splitlines() if " fast " in ln]
    assert "override until 2026-11-23T13:00:00+00:00, by oncall: demo" in line
    listed = json.loads(w.cli("override", "list", "-c", str(w.path), "--json"))
    assert [(o["group"], o["actor"], o["reason"]) for o in listed] == [("fast", "oncall", "demo")]
    plan = w.cli("plan", "-c", str(w.path))  # what the daemon would do now: nothing to fast
    assert "-> KILL: spend" in plan and "HELD, nothing would be done: override until" in plan
    assert "would run: " not in plan
    history = w.cli("history", "-c", str(w.path))
    assert "override done" in history and "by oncall: demo" in history
    w.cycle(40)  # 13:12, a new window: the override has ended and is pruned
    assert w.gauge() == 0
    assert w.cli("override", "list", "-c", str(w.path)).strip() == "no override in force"
    w.cycle(17)  # over again in the new window: the kill comes back
    assert w.kills() == 2 and w.disabled("fast")


def test_restore_for_a_duration_then_the_kill_comes_back(w: World) -> None:
    killed_fast(w)
    w.cli("restore", "-c", str(w.path), "per-key", "--target", "fast", "--for", "10m")
    w.cycle(5)
    assert w.kills() == 1 and not w.disabled("fast")
    w.cycle(6)  # 11 minutes after the restore, same window, still over
    assert w.kills() == 2 and w.disabled("fast")


def test_override_clear_rearms_the_kill(w: World) -> None:
    killed_fast(w)
    w.cli("restore", "-c", str(w.path), "per-key", "--target", "fast", "--actor", "alice")
    w.cycle(1)
    assert w.kills() == 1
    out = w.cli("override", "clear", "-c", str(w.path), "per-key", "--target", "fast")
    assert out.startswith("cleared: per-key/fast (was: override until ")
    again = w.cli("override", "clear", "-c", str(w.path), "per-key", "--target", "fast")
    assert again.startswith("nothing to clear: per-key/fast has no override")
    w.cycle(1)
    assert w.kills() == 2 and w.disabled("fast")
    rows = [(r.op, r.action, r.actor) for r in w.rt.store.journal_rows() if r.op == "override"]
    assert rows == [("override", "set", "alice"), ("override", "clear", "oncall")]
    events = [(e["event"], e["details"].get("actor")) for e in w.sent if "override" in e["event"]]
    assert events == [("override_set", "alice"), ("override_cleared", "oncall")]


def test_a_manual_kill_lifts_the_restore_override(w: World) -> None:
    killed_fast(w)
    w.cli("restore", "-c", str(w.path), "per-key", "--target", "fast")
    w.cli("kill", "-c", str(w.path), "per-key", "--target", "fast", "--actor", "alice")
    assert w.disabled("fast") and w.rt.store.overrides() == []
    ops = [
        (r.op, r.action if r.op == "override" else "", r.actor) for r in w.rt.store.journal_rows()
    ]
    assert ops[-2:] == [("override", "clear", "alice"), ("kill", "", "alice")]


def test_a_restore_under_the_limit_records_no_override(w: World) -> None:
    w.cycle(1)
    w.cli("kill", "-c", str(w.path), "per-key", "--target", "slow")
    w.cli("restore", "-c", str(w.path), "per-key", "--target", "slow")
    assert [r.op for r in w.rt.store.journal_rows()] == ["kill", "restore"]


def test_a_manual_kill_is_not_restored_at_the_window_reset(w: World) -> None:
    killed_fast(w)  # an automatic kill, for comparison
    w.cli("kill", "-c", str(w.path), "per-key", "--target", "slow", "--actor", "bob")
    assert w.disabled("slow")
    w.cycle(50)  # 13:07: a new window, both under the line
    assert not w.disabled("fast")  # the automatic kill is restored
    assert w.disabled("slow")  # the manual one holds
    states = {s["group"]: s["state"] for s in w.rt.store.statuses()}
    assert states == {"fast": "ok", "slow": "killed"}
    assert w.gauge() == 1
    listed = w.cli("override", "list", "-c", str(w.path))
    assert listed.startswith("per-key/slow: kept killed until a manual restore, by bob")
    w.cycle(5)
    assert w.disabled("slow")
    w.cli("restore", "-c", str(w.path), "per-key", "--target", "slow")
    assert not w.disabled("slow")
    restores = [r.target for r in w.rt.store.journal_rows() if r.op == "restore"]
    assert restores == ["fast", "slow"]


def test_bad_override_ends_are_one_line_errors(w: World) -> None:
    killed_fast(w)
    args = ("restore", "-c", str(w.path), "per-key", "--target", "fast")
    w.cli(*args, "--for", "soon", code=2)
    w.cli(*args, "--until", "2020-01-01T00:00:00Z", code=2)
    w.cli(*args, "--for", "1h", "--until", "2030-01-01T00:00:00Z", code=2)
    assert w.disabled("fast")  # nothing was done
