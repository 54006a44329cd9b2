"""CLI and health surfaces of the real daemon process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from killswitch.testing import DaemonProcess, StandIn, simulated_config

pytestmark = pytest.mark.e2e
SECRET = "sk-or-v1-plan-secret-value"


def sim(**over: Any) -> dict[str, Any]:
    return simulated_config(**over)


def test_readyz_fails_while_a_source_is_stale_and_healthz_stays_up(tmp_path: Path) -> None:
    with DaemonProcess(sim(fail_polls=True), tmp_path) as d:
        d.start(wait_ready=False)
        d.wait_for(lambda: d.metric("killswitch_poll_total", provider="sim", result="error"))
        # the poll counter is bumped before the cycle publishes staleness: wait for the gauge
        d.wait_for(
            lambda: d.metric("killswitch_source_stale", provider="sim", source="simulated") == 1.0
        )
        assert d.get_status("/healthz") == 200
        assert d.get_status("/readyz") == 503
        # no data is not zero: no spend series, state no_data
        assert d.metric("killswitch_spend_usd", budget="b") is None
        assert d.stop() == 0


def test_removed_budget_series_disappear(tmp_path: Path) -> None:
    cfg = sim()
    with DaemonProcess(cfg, tmp_path) as d:
        d.start()
        assert d.metric("killswitch_budget_limit_usd", budget="b") == 1000.0
        d.stop()
    cfg["budgets"][0]["name"] = "renamed"
    with DaemonProcess(cfg, tmp_path) as d2:
        d2.start()
        assert d2.metric("killswitch_budget_limit_usd", budget="renamed") == 1000.0
        assert d2.metric("killswitch_budget_limit_usd", budget="b") is None
        status = json.loads(d2.cli("status", "--json").stdout)
        assert {r["budget"] for r in status} == {"renamed"}
        d2.stop()


def test_plan_names_targets_and_reasons_and_hides_secrets(tmp_path: Path) -> None:
    s = StandIn()

    @s.route("GET", "/api/v1/keys")
    def keys(r: Any) -> tuple[int, Any]:
        usage = {"usage": 30.0, "usage_daily": 12.0, "usage_weekly": 12.0, "usage_monthly": 12.0}
        return 200, {
            "data": [
                {"hash": "abc123", "name": "prod", "disabled": False, **usage},
                {"hash": "ci999", "name": "ci", "disabled": False, **usage},
            ]
        }

    s.start()
    cfg = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "protect": ["ci999"],
        "providers": {
            "or": {"type": "openrouter", "api_key": "${env:OR_KEY}", "base_url": f"{s.url}/api/v1"}
        },
        "budgets": [
            {
                "name": "daily",
                "provider": "or",
                "scope": {"each": "key"},
                "limit_usd": 10,
                "actions": ["openrouter.disable-key"],
            }
        ],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OR_KEY": SECRET}
    try:
        res = subprocess.run(
            [sys.executable, "-m", "killswitch", "plan", "-c", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        assert "KILL" in res.stdout and "openrouter.disable-key on abc123" in res.stdout
        assert "protected, skipped: ci999" in res.stdout
        assert SECRET not in res.stdout + res.stderr
        assert not any(r.method == "PATCH" for r in s.requests)  # plan changes nothing
        js = subprocess.run(
            [sys.executable, "-m", "killswitch", "plan", "-c", str(path), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        rows = json.loads(js.stdout)["budgets"]
        (kill,) = [
            d
            for r in rows
            for d in r["decisions"]
            if d["decision"] == "kill" and r["group"] == "abc123"
        ]
        assert kill["would_touch"] == ["openrouter.disable-key on abc123"]
    finally:
        s.stop()


def test_providers_json_lists_capabilities() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "killswitch", "providers", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = {r["provider"]: r for r in json.loads(res.stdout)}
    acts = {a["name"]: a for a in rows["openrouter"]["actions"]}
    assert acts["openrouter.delete-key"]["irreversible"] is True
    assert acts["openrouter.disable-key"]["reversible"] is True


def test_manual_kill_and_restore_are_journaled(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    cfg = sim(state_file=str(world))
    cfg["providers"]["sim"]["targets"].append({"id": "z", "rate_usd_per_second": 1})
    d = DaemonProcess(cfg, tmp_path)
    res = d.cli("kill", "b", check=False)
    assert res.returncode == 2 and "--target" in res.stderr  # each-key budget: name the target
    assert d.cli("kill", "nope", "--target", "a", check=False).returncode == 2
    res = d.cli("kill", "b", "--target", "a")
    assert "kill done: simulated.disable on a" in res.stdout
    rows = d.history()
    assert [(r["op"], r["target"], r["status"], r["manual"]) for r in rows] == [
        ("kill", "a", "done", True)
    ]
    calls = json.loads(world.read_text())["calls"]
    assert [(c["op"], c["target"]) for c in calls] == [("disable", "a")]
    d.cli("restore", "b", "--target", "a")
    calls = json.loads(world.read_text())["calls"]
    assert [(c["op"], c["target"]) for c in calls] == [("disable", "a"), ("enable", "a")]


def test_run_once_exit_code_reflects_source_health(tmp_path: Path) -> None:
    ok = DaemonProcess(sim(), tmp_path / "ok")
    bad = DaemonProcess(sim(fail_polls=True), tmp_path / "bad")
    for d, code in ((ok, 0), (bad, 1)):
        res = subprocess.run(
            [sys.executable, "-m", "killswitch", "run", "--once", "-c", str(d.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == code, res.stderr[-2000:]
