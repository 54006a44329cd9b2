"""A real Prometheus scrapes the real demo daemon with the shipped alert rules loaded."""

from __future__ import annotations

import subprocess

import pytest

from tests.ops.conftest import tool
from tests.ops.live import LiveStack, http_get

pytestmark = pytest.mark.ops

TARGETS = {"app-key", "batch-key", "ci-key"}


def test_metrics_pass_promtool_lint(live: LiveStack) -> None:
    status, body = http_get(f"{live.daemon_url}/metrics")
    assert status == 200
    r = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=body, capture_output=True, check=False
    )
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def test_budget_series_are_scraped(live: LiveStack) -> None:
    spend = live.wait_for(
        lambda: live.query('killswitch_spend_usd{job="killswitch",budget="demo-per-key"}'),
        "spend series",
    )
    assert {s["metric"]["target"] for s in spend} == TARGETS
    for s in spend:
        assert s["metric"]["provider"] == "sim" and s["metric"]["currency"] == "USD"
    limits = live.query('killswitch_budget_limit_usd{budget="demo-per-key"}')
    assert {float(s["value"][1]) for s in limits} == {5.0}
    # the state enum: exactly one state is 1 per target
    current = live.query('killswitch_budget_state{budget="demo-per-key"} == 1')
    assert sorted(s["metric"]["target"] for s in current) == sorted(TARGETS)
    assert live.value('killswitch_build_info{job="killswitch"}') == 1.0
    assert live.value('killswitch_source_stale{provider="sim"}') == 0.0


def test_kill_is_scraped_and_killswitch_killed_fires(live: LiveStack) -> None:
    firing = live.wait_for(lambda: live.firing("KillswitchKilled"), "KillswitchKilled firing")
    labels = firing[0]["labels"]
    assert labels["budget"] == "demo-per-key"
    assert labels["target"] == "app-key"  # ci-key is protected, batch-key spends slowly
    assert labels["severity"] == "critical"
    assert firing[0]["annotations"]["runbook_url"].endswith("#killswitchkilled")
    assert "killed app-key" in firing[0]["annotations"]["summary"]
    assert (live.value('sum(killswitch_kills_total{budget="demo-per-key"})') or 0) >= 1
    assert (
        live.value('killswitch_actions_total{action="simulated.disable",result="success"}') or 0
    ) >= 1
    # the protected key is over budget but never killed: KillswitchBudgetBreached's series
    breached = live.wait_for(
        lambda: live.query('killswitch_budget_state{state="breached"} == 1'), "ci-key breached"
    )
    assert {s["metric"]["target"] for s in breached} == {"ci-key"}


def test_restore_after_window_reset_is_scraped(live: LiveStack) -> None:
    live.wait_kill_and_restore()
    assert (live.value('sum(killswitch_restores_total{budget="demo-per-key"})') or 0) >= 1


def test_notification_outcomes_are_counted(live: LiveStack) -> None:
    live.wait_for(
        lambda: live.value(
            'killswitch_notifications_total{notifier="oncall",result="success"} > 0'
        ),
        "a delivered notification",
    )
    live.wait_for(
        lambda: live.value('killswitch_notifications_total{notifier="flaky",result="failure"} > 0'),
        "a failed notification",
    )


def test_no_rule_evaluation_errors(live: LiveStack) -> None:
    groups = live.api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) >= 7
    bad = {r["name"]: r.get("lastError") for r in rules if r.get("health") != "ok"}
    # a rule not yet evaluated has health "unknown": wait a little for all to run once
    if bad:
        live.wait_for(
            lambda: all(
                r.get("health") == "ok" for g in live.api("rules")["groups"] for r in g["rules"]
            ),
            f"all rules healthy (were: {bad})",
            timeout=30,
        )
