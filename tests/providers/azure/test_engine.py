"""The real engine, store and executor with the azure provider, in process, on a fake clock.

ARM is the in-memory fake behind the real SDK clients. The sample config from the brief runs
unchanged: breach -> disable-local-auth with the prior value journaled -> no restore on the stale
figure Azure still shows on 1 December -> restore once December's own figure arrives.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from killswitch.config import parse
from killswitch.daemon import Runtime, build
from killswitch.model import BudgetState, Money
from killswitch.testing import FakeClock
from tests.providers.azure.arm import ACCOUNT, DEPLOYMENT, SUB, FakeArm, budget
from tests.providers.azure.conftest import hooks
from tests.providers.azure.test_config import SAMPLE


def runtime(tmp_path: Path, arm: FakeArm, clock: FakeClock, **budget_over: Any) -> Runtime:
    data = yaml.safe_load(SAMPLE)
    data["state"] = f"sqlite:///{tmp_path / 'state.db'}"
    data["budgets"][0].update(budget_over)
    return build(parse(data), clock=clock, hooks=[hooks(arm)], identity="test")


def status(rt: Runtime) -> tuple[BudgetState, Money | None]:
    (s,) = rt.metrics.snapshot.statuses["aoai-monthly"]
    return s.state, s.spend


async def test_sample_config_breach_disable_then_restore_next_month(
    tmp_path: Path, arm: FakeArm
) -> None:
    arm.add_account(ACCOUNT, disable_local_auth=False)
    b = budget("ai-monthly", 550.12, forecast=905.0)
    arm.add_budgets(f"/subscriptions/{SUB}", b, budget("other", 5000))
    clock = FakeClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    rt = runtime(tmp_path, arm, clock)

    await rt.engine.cycle("azure")
    assert status(rt) == (BudgetState.OK, Money(Decimal("550.12"), "USD"))
    assert arm.writes() == []

    b["properties"]["currentSpend"]["amount"] = 812.5
    clock.advance(minutes=10)
    await rt.engine.cycle("azure")
    assert arm.local_auth() is True
    (kill,) = rt.store.journal_rows(op="kill")
    assert (kill.status, kill.target, kill.action) == ("done", ACCOUNT, "azure.disable-local-auth")
    assert kill.prior == {"disable_local_auth": False}
    assert status(rt)[0] is BudgetState.KILLED

    clock.advance(minutes=10)
    await rt.engine.cycle("azure")  # still breached: no second PATCH
    assert len(arm.matching("PATCH", ".")) == 1

    # 1 December 02:00: Azure still reports November's total. Not December's: no restore, and
    # no new kill on old spend.
    clock.now = datetime(2026, 12, 1, 2, tzinfo=UTC)
    await rt.engine.cycle("azure")
    assert arm.local_auth() is True
    assert rt.store.journal_rows(op="restore") == []
    assert len(rt.store.journal_rows(op="kill")) == 1

    b["properties"]["currentSpend"]["amount"] = 3.2  # December's figure
    clock.now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    await rt.engine.cycle("azure")
    assert arm.local_auth() is False  # exactly the journaled prior value
    (restore,) = rt.store.journal_rows(op="restore")
    assert restore.status == "done"
    assert status(rt) == (BudgetState.OK, Money(Decimal("3.2"), "USD"))
    patches = [c.body for c in arm.matching("PATCH", "accounts/aoai$")]
    assert patches == [
        {"properties": {"disableLocalAuth": True}},
        {"properties": {"disableLocalAuth": False}},
    ]
    await rt.aclose()


async def test_cost_query_budget_on_one_resource_scales_a_deployment(
    tmp_path: Path, arm: FakeArm
) -> None:
    from tests.providers.azure.arm import RESOURCE_COLUMNS, query_result

    rid = ACCOUNT.lower()
    arm.query_pages = [query_result([[150.25, rid, "USD"]], RESOURCE_COLUMNS)]
    clock = FakeClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    rt = runtime(
        tmp_path,
        arm,
        clock,
        source="azure.cost-query",
        scope={"resources": [rid]},
        limit_usd=100,
        actions=[{"type": "azure.deployment-capacity", "deployments": [DEPLOYMENT]}],
    )
    await rt.engine.cycle("azure")
    assert arm.capacity() == 1
    (kill,) = rt.store.journal_rows(op="kill")
    assert kill.prior == {"sku_name": "Standard", "capacity": 120}

    arm.query_pages = [query_result([[0.4, rid, "USD"]], RESOURCE_COLUMNS)]
    clock.now = datetime(2026, 12, 1, 6, tzinfo=UTC)
    await rt.engine.cycle("azure")
    assert arm.capacity() == 120
    (call,) = [c for c in arm.matching("POST", "query$") if "2026-12-01" in str(c.body)]
    assert call.body["timePeriod"] == {"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T06:00:00Z"}
    await rt.aclose()


async def test_malformed_budget_means_stale_not_zero(tmp_path: Path, arm: FakeArm) -> None:
    arm.add_budgets(f"/subscriptions/{SUB}", budget("ai-monthly", "812.5"))
    clock = FakeClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    rt = runtime(tmp_path, arm, clock)
    await rt.engine.cycle("azure")
    state, spend = status(rt)
    assert spend is None and state is BudgetState.NO_DATA
    assert arm.writes() == []
    h = rt.metrics.snapshot.sources[("azure", "azure.budgets")]
    assert h.stale and h.error is not None and "not a number" in h.error
    await rt.aclose()
