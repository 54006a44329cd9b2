"""Native caps on OpenAI through the real engine against the fake Admin API (contract-checked):
a monthly project budget with ``native_cap: true`` sets each project's spend_limit to the limit
in cents, a limit raised in the console is announced once and set back (journaled with the prior
value), and ``native_cap: verify`` alerts without ever writing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.testing import FakeClock

from .conftest import check_exchanges
from .contract import load_contract
from .fake import FakeOpenAI

ABC, OTHER = "proj_abc", "proj_other"
CONFIG = """
providers:
  openai: {type: openai, admin_key: "KEY", poll_interval: 60s, page_interval: 0}
budgets:
  - name: project-monthly
    provider: openai
    scope: {each: project}
    window: monthly
    limit_usd: 500
    native_cap: MODE
    actions: [openai.spend-limit]
notifiers: [{type: webhook, url: "http://127.0.0.1:9/hook"}]
prices:
  openai:
    "*": {input: 15, output: 60}
"""


def runtime(tmp_path: Path, clock: FakeClock, fake: FakeOpenAI, mode: str) -> daemon.Runtime:
    data: dict[str, Any] = yaml.safe_load(
        CONFIG.replace("KEY", fake.admin_key).replace("MODE", mode)
    )
    data["state"] = f"sqlite:///{tmp_path / 's.db'}"
    return daemon.build(cfgmod.parse(data), clock=clock, transport=fake.transport(), identity="t")


def world(clock: FakeClock) -> FakeOpenAI:
    fake = FakeOpenAI(clock)
    fake.add_project(ABC)
    fake.add_project(OTHER)
    fake.add_project("proj_old", archived=True)
    return fake


def limit(cents: int) -> dict[str, Any]:
    return {
        "object": "project.spend_limit",
        "threshold_amount": cents,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "enforcing"},
    }


def drift_events(rt: daemon.Runtime, clock: FakeClock) -> list[dict[str, Any]]:
    return [
        i.event for i in rt.store.outbox_due(clock.now) if i.event["event"].startswith("native")
    ]


async def test_sets_caps_then_sets_a_console_change_back_once(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fake = world(clock)
    fake.spend_limits[OTHER] = limit(50_000)  # already as configured
    rt = runtime(tmp_path, clock, fake, "true")
    await rt.engine.cycle("openai")
    assert fake.spend_limits[ABC]["threshold_amount"] == 50_000  # $500 in cents
    assert "proj_old" not in fake.spend_limits  # archived projects are left alone
    (first,) = [r for r in rt.store.journal_rows() if r.op == "cap"]
    assert (first.target, first.status, first.action) == (ABC, "done", "openai.native-cap")
    assert first.prior == {"cap": {"amount": None, "currency": "USD", "reset": None}}
    assert drift_events(rt, clock) == []  # a first set is no drift
    posts = len(fake.requests("POST", ".*spend_limit"))

    fake.spend_limits[ABC] = limit(250_000)  # someone raised it in the console
    for _ in range(3):
        clock.advance(minutes=1)
        await rt.engine.cycle("openai")
    assert fake.spend_limits[ABC]["threshold_amount"] == 50_000
    assert len(fake.requests("POST", ".*spend_limit")) == posts + 1  # set back once, then in sync
    (drift,) = drift_events(rt, clock)
    assert drift["event"] == "native_cap_drift" and drift["group"] == ABC
    assert "2500 USD monthly" in drift["summary"] and "set back" in drift["summary"]
    setback = [r for r in rt.store.journal_rows() if r.op == "cap"][-1]
    assert setback.prior == {"cap": {"amount": "2500", "currency": "USD", "reset": "monthly"}}
    assert setback.params == {"cap": {"amount": "500", "currency": "USD", "reset": "monthly"}}
    await rt.aclose()
    check_exchanges(load_contract(), fake)


async def test_verify_alerts_once_and_never_writes(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fake = world(clock)
    fake.spend_limits[ABC] = limit(50_000)
    rt = runtime(tmp_path, clock, fake, "verify")
    for _ in range(3):
        await rt.engine.cycle("openai")
        clock.advance(minutes=1)
    assert fake.requests("POST", ".*spend_limit") == [] and OTHER not in fake.spend_limits
    (only,) = drift_events(rt, clock)  # OTHER has no limit: one alert, not one per cycle
    assert only["group"] == OTHER and "alert only" in only["summary"]
    assert [r for r in rt.store.journal_rows() if r.op == "cap"] == []

    fake.spend_limits[ABC] = limit(10_000)  # a new drift on the other project: its own alert
    await rt.engine.cycle("openai")
    assert sorted(e["group"] for e in drift_events(rt, clock)) == [ABC, OTHER]
    await rt.aclose()
    check_exchanges(load_contract(), fake)


async def test_a_kill_that_lowered_the_cap_is_left_alone_until_its_restore(
    tmp_path: Path,
) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fake = world(clock)
    fake.spend_limits[ABC] = limit(50_000)
    fake.spend_limits[OTHER] = limit(50_000)
    tokens = 510 * 1_000_000 // 15  # $510 at the "*" price: over the $500 limit
    fake.add_completion(datetime(2026, 11, 23, 9, 0, tzinfo=UTC), ABC, "key_x", "m", input=tokens)
    fake.add_cost(datetime(2026, 11, 22, tzinfo=UTC), ABC, "m, input", 480.0)
    rt = runtime(tmp_path, clock, fake, "true")
    for _ in range(2):
        await rt.engine.cycle("openai")
        clock.advance(minutes=1)
    (kill,) = [r for r in rt.store.journal_rows() if r.op == "kill"]
    assert (kill.target, kill.status) == (ABC, "done")
    assert fake.spend_limits[ABC]["threshold_amount"] == 48_000  # the kill's limit holds
    assert [r for r in rt.store.journal_rows() if r.op == "cap"] == []
    assert drift_events(rt, clock) == []

    clock.now = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)  # the month resets: restore
    await rt.engine.cycle("openai")
    assert fake.spend_limits[ABC]["threshold_amount"] == 50_000  # the prior limit is back
    assert [r for r in rt.store.journal_rows() if r.op == "cap"] == []  # in sync: no write
    await rt.aclose()
    check_exchanges(load_contract(), fake)
