"""The real engine in-process (FakeClock) on moto in-process: Bedrock spend over a budget ->
deny policy + key deactivation journaled with prior state -> restored in the next window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.testing import FakeClock

from .conftest import ACCOUNT, client
from .test_actions import APP, attached, role, statuses, user_with_keys
from .test_source_bedrock import SONNET, put

pytestmark = pytest.mark.usefixtures("aws")


def runtime(tmp_path: Path, clock: FakeClock, **budget: Any) -> daemon.Runtime:
    data = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {"aws": {"type": "aws", "region": "us-east-1"}},
        "budgets": [
            {
                "name": "bedrock-hourly",
                "provider": "aws",
                "source": "aws.bedrock",
                "scope": {"all": True},
                "window": "interval:1h",
                "limit_usd": 5,
                "actions": [
                    {"type": "aws.deny-policy", "principals": [APP], "deny": ["bedrock:*"]},
                    {"type": "aws.deactivate-access-keys", "users": ["ci-bot"]},
                ],
                "restore": "on_reset",
                **budget,
            }
        ],
    }
    return daemon.build(cfgmod.parse(data), clock=clock, identity="test")


async def test_breach_kills_with_prior_state_and_new_window_restores(tmp_path: Path) -> None:
    role("app")
    k1, k2 = user_with_keys()
    clock = FakeClock(datetime(2026, 11, 23, 12, 10, tzinfo=UTC))
    rt = runtime(tmp_path, clock)
    put(SONNET, datetime(2026, 11, 23, 12, 5, tzinfo=UTC), InputTokenCount=1_000_000)  # $3
    await rt.engine.cycle("aws")
    assert rt.store.journal_rows() == []
    put(
        SONNET,
        datetime(2026, 11, 23, 12, 12, tzinfo=UTC),
        InputTokenCount=1_000_000,
        OutputTokenCount=200_000,
    )  # +$6 -> $9 > $5
    clock.advance(minutes=4)
    await rt.engine.cycle("aws")
    rows = {r.action: r for r in rt.store.journal_rows()}
    assert {(r.op, r.status) for r in rows.values()} == {("kill", "done")}
    deny_prior = rows["aws.deny-policy"].prior or {}
    assert deny_prior["principal"] == APP
    assert deny_prior["policy_arn"].startswith(f"arn:aws:iam::{ACCOUNT}:policy/killswitch/")
    keys_prior = rows["aws.deactivate-access-keys"].prior or {}
    assert keys_prior["active_before"] == [k1] and keys_prior["deactivated"] == [k1]
    assert len(attached("role", "app")) == 1
    assert statuses() == {k1: "Inactive", k2: "Inactive"}

    clock.advance(minutes=50)  # 13:04: the next hourly window, no spend yet
    await rt.engine.cycle("aws")
    ops = sorted((r.op, r.action, r.status) for r in rt.store.journal_rows())
    assert ops == [
        ("kill", "aws.deactivate-access-keys", "done"),
        ("kill", "aws.deny-policy", "done"),
        ("restore", "aws.deactivate-access-keys", "done"),
        ("restore", "aws.deny-policy", "done"),
    ]
    assert attached("role", "app") == []
    assert statuses() == {k1: "Active", k2: "Inactive"}
    await rt.aclose()


async def test_unknown_model_makes_the_budget_incomplete_not_ok(tmp_path: Path) -> None:
    role("app")
    user_with_keys()
    clock = FakeClock(datetime(2026, 11, 23, 12, 10, tzinfo=UTC))
    rt = runtime(tmp_path, clock)
    put(
        "cohere.command-r-v1:0",
        datetime(2026, 11, 23, 12, 5, tzinfo=UTC),
        InputTokenCount=50_000_000,
    )
    report = await rt.engine.cycle("aws")
    (ev,) = report.evaluations.values()
    states = {s.state.value for s in ev.statuses}
    assert states == {"incomplete"}
    assert rt.store.journal_rows() == []
    await rt.aclose()


async def test_dry_run_touches_nothing(tmp_path: Path) -> None:
    role("app")
    k1, _ = user_with_keys()
    clock = FakeClock(datetime(2026, 11, 23, 12, 10, tzinfo=UTC))
    rt = runtime(tmp_path, clock, dry_run=True)
    put(SONNET, datetime(2026, 11, 23, 12, 5, tzinfo=UTC), InputTokenCount=10_000_000)
    await rt.engine.cycle("aws")
    assert {r.status for r in rt.store.journal_rows()} == {"dry_run"}
    assert attached("role", "app") == [] and statuses()[k1] == "Active"
    assert client("iam").list_policies(Scope="Local")["Policies"] == []
    await rt.aclose()
