"""The real engine, store and executor with the gcp provider, in process, on a fake clock.

Pub/Sub is the fake pull client (ack semantics checked); Cloud Billing is the Discovery-checked
REST stand-in. Covers the sample config from the brief unchanged (EUR limit, UTC monthly window):
breach -> detach-billing with the prior account journaled -> restore in the next month.
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
from killswitch.providers.gcp.clients import GcpHooks
from killswitch.testing import FakeClock
from tests.providers.gcp.fakes import FakePullClient, FakeSubscription, notification
from tests.providers.gcp.helpers import anonymous
from tests.providers.gcp.standin import FakeGcp

SAMPLE = """
providers:
  gcp:
    type: gcp
    subscription: projects/ops/subscriptions/budget-alerts
budgets:
  - name: sandbox-monthly
    provider: gcp
    scope: {budgets: [0a1b2c3d-budget-id]}
    window: monthly
    limit: {amount: 1000, currency: EUR}
    allow_irreversible: true
    actions:
      - type: gcp.detach-billing
        projects: [my-sandbox]
"""
ACCOUNT = "billingAccounts/01D4EE-079462-DFD6EC"


def runtime(
    tmp_path: Path, fake: FakeGcp, sub: FakeSubscription, clock: FakeClock, **budget_over: Any
) -> Runtime:
    data = yaml.safe_load(SAMPLE)
    data["state"] = f"sqlite:///{tmp_path / 'state.db'}"
    data["providers"]["gcp"]["endpoints"] = fake.endpoints()  # added keys; none renamed
    data["budgets"][0].update(budget_over)
    hooks = GcpHooks(credentials=anonymous(), project="ops", subscriber=FakePullClient(sub))
    return build(parse(data), clock=clock, hooks=[hooks], identity="test")


def status(rt: Runtime) -> tuple[BudgetState, Money | None]:
    (s,) = rt.metrics.snapshot.statuses["sandbox-monthly"]
    return s.state, s.spend


async def test_sample_config_breach_detach_then_restore_next_month(
    tmp_path: Path, fake: FakeGcp, sub: FakeSubscription
) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    rt = runtime(tmp_path, fake, sub, clock)
    sub.publish(
        *notification(650.0, threshold=0.5), publish_time=datetime(2026, 11, 21, tzinfo=UTC)
    )
    await rt.engine.cycle("gcp")
    assert status(rt) == (BudgetState.OK, Money(Decimal("650.0"), "EUR"))
    assert sub.acked == []  # stored, not yet acknowledged
    stored = rt.store.load_observations(
        "gcp.budget-notifications", datetime(2026, 11, 1, tzinfo=UTC)
    )
    assert {o.amount for o in stored} == {Money(Decimal("650.0"), "EUR")}

    sub.publish(
        *notification(1020.0, threshold=1.0), publish_time=datetime(2026, 11, 22, 18, tzinfo=UTC)
    )
    await rt.engine.cycle("gcp")
    assert sub.acked == ["1"]  # the previous poll's message, after its spend was stored
    assert fake.billing["my-sandbox"] == ""
    (kill,) = rt.store.journal_rows(op="kill")
    assert (kill.status, kill.target, kill.action) == ("done", "my-sandbox", "gcp.detach-billing")
    assert kill.prior == {"billing_account_name": ACCOUNT, "billing_enabled": True}
    assert status(rt)[0] is BudgetState.KILLED

    await rt.engine.cycle("gcp")  # more cycles: no second detach
    assert len(fake.cloudbilling.matching("PUT", r".*")) == 1
    assert sorted(sub.acked) == ["1", "2"]

    # 1 December 03:00 UTC: the UTC window is new, but Google's month (Pacific) is not; no
    # December figure yet, so no restore on "no data".
    clock.now = datetime(2026, 12, 1, 3, tzinfo=UTC)
    await rt.engine.cycle("gcp")
    assert fake.billing["my-sandbox"] == ""
    sub.publish(
        *notification(3.2, start="2026-12-01T08:00:00Z"),
        publish_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
    )
    clock.now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    await rt.engine.cycle("gcp")
    assert fake.billing["my-sandbox"] == ACCOUNT  # re-linked to the journaled account
    (restore,) = rt.store.journal_rows(op="restore")
    assert restore.status == "done"
    assert status(rt) == (BudgetState.OK, Money(Decimal("3.2"), "EUR"))
    assert fake.violations == []
    await rt.aclose()


async def test_pacific_budget_matches_googles_month_exactly(
    tmp_path: Path, fake: FakeGcp, sub: FakeSubscription
) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 9, tzinfo=UTC))  # 01:00 PST, 1 December
    rt = runtime(
        tmp_path, fake, sub, clock, timezone="America/Los_Angeles", mode="alert-only", actions=[]
    )
    sub.publish(
        *notification(5.0, start="2026-12-01T08:00:00Z"),
        publish_time=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    )
    await rt.engine.cycle("gcp")
    assert status(rt) == (BudgetState.OK, Money(Decimal("5.0"), "EUR"))
    await rt.aclose()


async def test_usd_limit_on_a_eur_budget_is_never_converted(
    tmp_path: Path, fake: FakeGcp, sub: FakeSubscription
) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    rt = runtime(tmp_path, fake, sub, clock, limit=None, limit_usd=1000)
    sub.publish(*notification(5000.0), publish_time=datetime(2026, 11, 22, tzinfo=UTC))
    await rt.engine.cycle("gcp")
    (s,) = rt.metrics.snapshot.statuses["sandbox-monthly"]
    # The core leaves a currency mismatch without a total (no data), and says why.
    assert s.state is BudgetState.NO_DATA and s.spend is None
    assert "0a1b2c3d-budget-id reports EUR, limit is USD" in s.detail
    assert fake.billing["my-sandbox"] == ACCOUNT  # never compared across currencies
    await rt.aclose()
