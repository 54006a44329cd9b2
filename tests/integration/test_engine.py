"""The engine in-process with a fake clock: journal, rails, restore, outbox, secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.act.plan import plan_kill
from killswitch.testing import FakeClock

BUDGET: dict[str, Any] = {  # the budget make() configures unless told otherwise
    "name": "per-key",
    "provider": "sim",
    "scope": {"each": "key"},
    "window": "interval:1h",
    "limit_usd": 10,
    "warn_at": [0.5, 0.8],
    "actions": ["simulated.disable"],
    "restore": "on_reset",
}


def make(
    tmp_path: Path,
    clock: FakeClock,
    *,
    budget: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
    transport: Any = None,
    targets: list[dict[str, Any]] | None = None,
) -> daemon.Runtime:
    b = {**BUDGET, **(budget or {})}
    data = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "sim": {
                "type": "simulated",
                "start": clock.now.isoformat(),
                "state_file": str(tmp_path / "world.json"),
                "targets": targets
                or [
                    {"id": "fast", "rate_usd_per_second": 0.01},
                    {"id": "slow", "rate_usd_per_second": 0.001},
                ],
            }
        },
        "budgets": [b],
        **(top or {}),
    }
    return daemon.build(cfgmod.parse(data), clock=clock, transport=transport, identity="test")


def journal(rt: daemon.Runtime) -> list[tuple[str, str, str]]:
    return [(r.op, r.target, r.status) for r in rt.store.journal_rows()]


async def test_kill_once_then_restore_exactly_what_was_killed(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock)
    clock.advance(minutes=10)  # fast: $6, slow: $0.6
    await rt.engine.cycle("sim")
    assert journal(rt) == []
    clock.advance(minutes=7)  # fast: $10.2 -> breach
    await rt.engine.cycle("sim")
    assert journal(rt) == [("kill", "fast", "done")]
    for _ in range(3):  # already killed: never again in this window
        clock.advance(minutes=5)
        await rt.engine.cycle("sim")
    assert journal(rt) == [("kill", "fast", "done")]
    (kill,) = rt.store.journal_rows()
    assert kill.prior == {"disabled": False}
    clock.advance(minutes=45)  # next hourly window
    await rt.engine.cycle("sim")
    assert journal(rt) == [("kill", "fast", "done"), ("restore", "fast", "done")]
    assert not rt.providers["sim"].world.is_disabled("fast")  # type: ignore[attr-defined]
    statuses = {s["group"]: s["state"] for s in rt.store.statuses()}
    assert statuses == {"fast": "ok", "slow": "ok"}


async def test_crash_between_intent_and_outcome_replays_exactly_once(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock)
    clock.advance(minutes=20)
    # Simulate the crash: journal the intent and mark killed, never call the provider.
    from killswitch.core.evaluate import evaluate

    await rt.engine.poll("sim", clock.now)
    rt.engine.record("sim", await rt.engine.poll("sim", clock.now), clock.now)
    ev = evaluate(
        rt.engine.rules[rt.config.budgets[0].name],
        rt.engine.ledger.observations("simulated"),
        {},
        clock.now,
    )
    (d,) = [d for d in ev.decisions if d.kind.value == "kill"]
    plan = plan_kill(d)
    with rt.store.tx() as conn:
        rt.store.journal_add(
            conn,
            [
                {
                    "budget": d.budget,
                    "grp": d.group,
                    "target": "fast",
                    "action": "simulated.disable",
                    "op": "kill",
                    "status": "pending",
                    "params": {"fail": False},
                    "window_start": d.window.start,
                }
            ],
            clock.now,
        )
        from killswitch.model import TargetState

        rt.store.save_states(
            d.budget,
            {
                d.group: TargetState(
                    window_start=d.window.start,
                    killed=True,
                    kill_mode="enforce",
                    killed_window_start=d.window.start,
                )
            },
            clock.now,
            conn,
        )
    assert plan.ops and journal(rt) == [("kill", "fast", "pending")]
    # "Restart": a fresh runtime on the same state resumes the pending intent once.
    rt2 = make(tmp_path, clock)
    assert await rt2.engine.resume(clock.now) == 1
    await rt2.engine.cycle("sim")
    await rt2.engine.cycle("sim")
    assert journal(rt2) == [("kill", "fast", "done")]
    world = json.loads((tmp_path / "world.json").read_text())
    assert [c["op"] for c in world["calls"]] == ["disable"]


async def test_blast_radius_acts_on_none_and_alerts_once(tmp_path: Path) -> None:
    clock = FakeClock()
    targets = [{"id": f"k{i}", "rate_usd_per_second": 1} for i in range(5)]
    rt = make(
        tmp_path,
        clock,
        targets=targets,
        top={
            "max_actions_per_cycle": 3,
            "notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
        },
    )
    clock.advance(minutes=1)
    await rt.engine.cycle("sim")
    clock.advance(minutes=1)
    await rt.engine.cycle("sim")
    assert journal(rt) == []
    assert not any(
        rt.providers["sim"].world.is_disabled(f"k{i}")  # type: ignore[attr-defined]
        for i in range(5)
    )
    blasts = [i for i in rt.store.outbox_due(clock.now) if i.event["event"] == "blast_radius"]
    assert len(blasts) == 1
    assert rt.metrics.actions.labels("simulated.disable", "blocked")._value.get() == 10


async def test_dry_run_journals_and_never_executes(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock, top={"dry_run": True})
    clock.advance(minutes=30)
    await rt.engine.cycle("sim")
    assert journal(rt) == [("kill", "fast", "dry_run")]
    assert not rt.providers["sim"].world.is_disabled("fast")  # type: ignore[attr-defined]
    # A counter's window delta starts from the last sample at or before the window start, so
    # poll at the boundary (as the daemon does every poll_interval), then inside the window.
    clock.advance(minutes=30)
    await rt.engine.cycle("sim")
    clock.advance(minutes=1)
    await rt.engine.cycle("sim")
    assert journal(rt) == [("kill", "fast", "dry_run"), ("restore", "fast", "dry_run")]


async def test_protect_list_and_alert_only(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock, top={"protect": ["fast"]})
    clock.advance(minutes=30)
    await rt.engine.cycle("sim")
    assert journal(rt) == []
    assert not rt.providers["sim"].world.is_disabled("fast")  # type: ignore[attr-defined]
    assert {s["group"]: s["state"] for s in rt.store.statuses()}["fast"] == "breached"
    rt2 = make(tmp_path / "b", clock, budget={"mode": "alert-only", "actions": []})
    clock.advance(minutes=20)
    await rt2.engine.cycle("sim")
    await rt2.engine.cycle("sim")
    assert journal(rt2) == []
    breaches = [i for i in rt2.store.outbox_due(clock.now) if i.event["event"] == "breach"]
    assert breaches == []  # no notifiers configured -> nothing queued, but state records it
    assert {s["group"]: s["state"] for s in rt2.store.statuses()}["fast"] == "breached"


async def test_failed_action_is_journaled_alerted_and_retried(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = make(tmp_path, clock, budget={"actions": [{"type": "simulated.disable", "fail": True}]})
    clock.advance(minutes=30)
    await rt.engine.cycle("sim")
    assert journal(rt) == [("kill", "fast", "failed")]
    assert {s["group"]: s["state"] for s in rt.store.statuses()}["fast"] == "error"
    clock.advance(minutes=1)
    await rt.engine.cycle("sim")
    (row,) = rt.store.journal_rows()
    assert row.attempts == 2 and row.status == "failed"


async def test_notifier_outage_loses_nothing_and_secrets_stay_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "hook-secret-value-123"
    monkeypatch.setenv("HOOK_SECRET", secret)
    up = {"ok": False}
    got: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if not up["ok"]:
            return httpx.Response(503)
        got.append(req)
        return httpx.Response(200)

    clock = FakeClock()
    rt = make(
        tmp_path,
        clock,
        transport=httpx.MockTransport(handler),
        top={
            "notifiers": [
                {
                    "type": "webhook",
                    "url": f"http://127.0.0.1:9/{secret}",
                    "secret": "${env:HOOK_SECRET}",
                }
            ]
        },
    )
    from killswitch import logs

    logs.setup("info")
    clock.advance(minutes=14)  # $8.4: the 80% warning
    await rt.engine.cycle("sim")
    clock.advance(minutes=16)  # breach: the kill
    await rt.engine.cycle("sim")
    assert await rt.engine.drain_outbox() == 0
    queued = rt.store.outbox_counts()["pending"]
    assert queued >= 2  # warning(s) + kill
    up["ok"] = True
    clock.advance(minutes=10)
    sent = await rt.engine.drain_outbox()
    assert sent == queued and rt.store.outbox_counts().get("pending", 0) == 0
    kinds = [json.loads(r.content)["event"] for r in got]
    assert kinds.count("kill") == 1
    from killswitch.signing import verify

    for r in got:
        assert verify(
            secret,
            r.headers["x-killswitch-timestamp"],
            r.content,
            r.headers["x-killswitch-signature"],
        )
    out = capsys.readouterr()
    assert secret not in out.out + out.err


async def test_source_outage_is_announced_once_and_recovery_once(tmp_path: Path) -> None:
    clock = FakeClock()
    rt = make(
        tmp_path, clock, top={"notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/h"}]}
    )
    src = rt.providers["sim"]
    src.cfg.fail_polls = True  # type: ignore[attr-defined]
    for _ in range(8):  # an outage of stale_after (3 x 60s) and more: announced once
        clock.advance(seconds=30)
        await rt.engine.cycle("sim")
    src.cfg.fail_polls = False  # type: ignore[attr-defined]
    for _ in range(2):
        clock.advance(seconds=30)
        await rt.engine.cycle("sim")
    events = [i.event["event"] for i in rt.store.outbox_due(clock.now)]
    assert events.count("source_stale") == 1 and events.count("source_recovered") == 1
