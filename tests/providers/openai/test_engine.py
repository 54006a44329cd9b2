"""The real engine in-process (FakeClock) against the fake Admin API, with the brief's config:
one key over its daily cap is deleted (only that key, in its own project); a project over its
monthly cap gets a spend limit, lifted when the month resets; the drift gauge is exported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.testing import FakeClock

from .conftest import check_exchanges
from .contract import load_contract
from .fake import FakeOpenAI

BRIEF = """
providers:
  openai:
    type: openai
    admin_key: ${env:OPENAI_ADMIN_KEY}
    base_url: https://api.openai.com/v1
    poll_interval: 60s
budgets:
  - {name: openai-key-daily, provider: openai, scope: {each: key}, window: daily, limit_usd: 25, actions: [openai.delete-key], allow_irreversible: true}
  - {name: openai-project-monthly, provider: openai, scope: {projects: [proj_abc]}, window: monthly, limit_usd: 500, warn_at: [0.8], actions: [openai.spend-limit], restore: on_reset}
prices:
  openai:
    gpt-4o-mini: {input: 0.15, cached_input: 0.075, output: 0.60}
    "*": {input: 15, output: 60}
"""
ABC, OTHER = "proj_abc", "proj_other"
MODEL = "in-house-ft-model"  # unknown to the catalogue: priced by the "*" fallback ($15/M in)


def tokens(usd: float) -> int:
    return int(Decimal(str(usd)) * 1_000_000 / 15)


def runtime(
    tmp_path: Path, clock: FakeClock, fake: FakeOpenAI, text: str = BRIEF
) -> daemon.Runtime:
    data: dict[str, Any] = yaml.safe_load(text.replace("${env:OPENAI_ADMIN_KEY}", fake.admin_key))
    data["state"] = f"sqlite:///{tmp_path / 's.db'}"
    data["providers"]["openai"]["page_interval"] = 0
    rt = daemon.build(cfgmod.parse(data), clock=clock, transport=fake.transport(), identity="t")
    return rt


def world(clock: FakeClock) -> FakeOpenAI:
    fake = FakeOpenAI(clock)
    for p in (ABC, OTHER):
        fake.add_project(p)
    for k, p in (("key_x", ABC), ("key_y", ABC), ("key_z", OTHER)):
        fake.add_key(p, k)
    return fake


def spend(fake: FakeOpenAI, at: datetime, project: str, key: str, usd: float) -> None:
    fake.add_completion(at, project, key, MODEL, input=tokens(usd))


async def test_brief_config_key_delete_project_limit_and_month_reset(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    fake = world(clock)
    spend(fake, datetime(2026, 11, 23, 9, 0, tzinfo=UTC), ABC, "key_x", 24)
    spend(fake, datetime(2026, 11, 23, 9, 30, tzinfo=UTC), ABC, "key_y", 20)
    spend(fake, datetime(2026, 11, 23, 9, 45, tzinfo=UTC), OTHER, "key_z", 24.9)
    spend(fake, datetime(2026, 11, 10, 12, 0, tzinfo=UTC), ABC, "key_y", 380)  # earlier this month
    fake.add_cost(datetime(2026, 11, 10, tzinfo=UTC), ABC, "ft model, input", 380.0)
    rt = runtime(tmp_path, clock, fake)
    await rt.engine.cycle("openai")
    assert rt.store.journal_rows() == [] and len(fake.keys) == 3
    states = {s.group: s for s in rt.metrics.snapshot.statuses["openai-project-monthly"]}
    assert states["*"].state.value == "warning" and states["*"].spend is not None
    assert round(states["*"].spend.amount, 2) == 424

    clock.advance(minutes=2)
    spend(fake, clock.now - timedelta(minutes=1), ABC, "key_x", 3)  # key_x: $27 today, over $25
    await rt.engine.cycle("openai")
    (kill,) = rt.store.journal_rows()
    assert (kill.op, kill.target, kill.status) == ("kill", "key_x", "done")
    assert kill.prior == {"already_deleted": False, "project": ABC}
    assert set(fake.keys) == {"key_y", "key_z"}
    deletes = fake.requests("DELETE", ".*")
    assert [d.url.rsplit("/v1", 1)[1] for d in deletes] == [
        f"/organization/projects/{ABC}/api_keys/key_x"
    ]

    clock.advance(minutes=2)
    spend(fake, clock.now - timedelta(minutes=1), ABC, "key_y", 80)  # project: $507 this month
    await rt.engine.cycle("openai")
    monthly = [r for r in rt.store.journal_rows() if r.budget == "openai-project-monthly"]
    assert [(r.op, r.target, r.status) for r in monthly] == [("kill", ABC, "done")]
    assert set(fake.keys) == {"key_z"}  # key_y crossed its own daily cap in the same cycle
    assert monthly[0].prior is not None and monthly[0].prior["prior_limit"] is None
    assert fake.spend_limits[ABC]["threshold_amount"] == 38_000  # billed month to date
    assert OTHER not in fake.spend_limits

    clock.now = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)  # the month (and the day) reset
    await rt.engine.cycle("openai")
    ops = sorted((r.budget, r.op, r.target, r.status) for r in rt.store.journal_rows())
    assert ("openai-project-monthly", "restore", ABC, "done") in ops
    assert ABC not in fake.spend_limits  # there was no limit before the kill: ours is deleted
    assert "key_x" not in fake.keys  # a deletion is not undone
    await rt.aclose()
    check_exchanges(load_contract(), fake)


KEY_DAILY_LIMIT = """
providers:
  openai: {type: openai, admin_key: "${env:OPENAI_ADMIN_KEY}", poll_interval: 60s, reconcile_settle: 1h}
budgets:
  - {name: key-daily, provider: openai, scope: {each: key}, window: daily, limit_usd: 25, actions: [openai.spend-limit], restore: on_reset}
prices:
  openai:
    "*": {input: 15, output: 60}
reconciliation: {drift_alert_usd: 1, drift_alert_ratio: 0.05}
"""


async def test_per_key_daily_spend_limit_on_its_project_restored_next_day(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 22, 0, tzinfo=UTC))
    fake = world(clock)
    fake.spend_limits[OTHER] = {
        "object": "project.spend_limit",
        "threshold_amount": 250_000,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "inactive"},
    }
    spend(fake, datetime(2026, 11, 23, 21, 0, tzinfo=UTC), OTHER, "key_z", 30)
    spend(fake, datetime(2026, 11, 23, 21, 0, tzinfo=UTC), ABC, "key_x", 15)
    fake.add_cost(datetime(2026, 11, 23, tzinfo=UTC), OTHER, "ft model, input", 29.5)
    fake.add_cost(datetime(2026, 11, 23, tzinfo=UTC), ABC, "ft model, input", 15.0)
    rt = runtime(tmp_path, clock, fake, KEY_DAILY_LIMIT)
    await rt.engine.cycle("openai")
    (kill,) = rt.store.journal_rows()
    assert (kill.target, kill.status) == (OTHER, "done") and kill.group == "key_z"
    assert fake.spend_limits[OTHER]["threshold_amount"] == 2950
    assert ABC not in fake.spend_limits

    clock.now = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    await rt.engine.cycle("openai")
    ops = sorted((r.op, r.target, r.status) for r in rt.store.journal_rows())
    assert ops == [("kill", OTHER, "done"), ("restore", OTHER, "done")]
    assert fake.spend_limits[OTHER]["threshold_amount"] == 250_000  # the prior limit is back
    drift = rt.metrics.snapshot.gauges["estimate_drift_usd"]
    assert drift[(("provider", "openai"), ("project", OTHER), ("day", "2026-11-23"))] == Decimal(
        "0.5"
    )
    assert drift[(("provider", "openai"), ("project", ABC), ("day", "2026-11-23"))] == 0
    await rt.aclose()
    check_exchanges(load_contract(), fake)
