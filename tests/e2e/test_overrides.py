"""A manual restore sticks against the real daemon: separate processes, the state between them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from killswitch.testing import DaemonProcess, simulated_config

pytestmark = pytest.mark.e2e


def test_a_restore_holds_for_its_duration_then_the_daemon_kills_again(tmp_path: Path) -> None:
    cfg = simulated_config(rate=1, limit_usd=3, state_file=str(tmp_path / "world.json"))
    with DaemonProcess(cfg, tmp_path / "d") as d:
        d.start()

        def kills() -> int:
            return sum(1 for h in d.history() if h["op"] == "kill" and h["target"] == "a")

        d.wait_for(lambda: kills() == 1, timeout=40)
        res = d.cli(
            "restore", "b", "--target", "a", "--for", "15s", "--reason", "e2e", "--actor", "eve"
        )
        assert res.returncode == 0 and "override set: override until" in res.stdout, res.stderr
        assert "by eve: e2e" in res.stdout
        d.wait_for(lambda: d.metric("killswitch_overrides_active", budget="b") == 1)
        status = d.cli("status", check=False).stdout
        (line,) = [ln for ln in status.splitlines() if ln.startswith("b ")]
        assert "override until" in line and "by eve: e2e" in line, status
        d.wait_for(lambda: kills() == 2, timeout=60)  # the override ended: killed again
        hist = d.history()
        (held,) = [h for h in hist if h["op"] == "override"]
        second = max(datetime.fromisoformat(h["created_at"]) for h in hist if h["op"] == "kill")
        # the daemon cycled every second, over the limit all along, and waited for the end
        assert second >= datetime.fromisoformat(held["params"]["until"]), hist
        d.wait_for(lambda: d.metric("killswitch_overrides_active", budget="b") == 0)
        assert d.cli("override", "list").stdout.strip() == "no override in force"
        d.stop()
