"""``plan`` and ``status`` as an operator runs them: bounded, truthful about failures, agreeing.

Each test runs the CLI as a subprocess against loopback stand-ins: a TCP listener that accepts
and never answers (the hanging provider), a port nobody listens on, and the demo config.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from killswitch.testing import DaemonProcess, free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections and never says a word: the provider that hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def openrouter_config(tmp_path: Path, port: int) -> Path:
    cfg = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "or": {
                "type": "openrouter",
                "api_key": "${env:OR_KEY}",
                "base_url": f"http://127.0.0.1:{port}/api/v1",
            }
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
    return path


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OR_KEY": "sk-or-v1-test"}
    return subprocess.run(
        [sys.executable, "-m", "killswitch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_plan_against_a_hanging_provider_ends_at_its_deadline(
    tmp_path: Path, silent_port: int
) -> None:
    path = openrouter_config(tmp_path, silent_port)
    t0 = time.monotonic()
    res = cli("plan", "-c", str(path), "--timeout", "2")
    took = time.monotonic() - t0
    assert res.returncode == 1, res.stdout + res.stderr
    assert took < 15, took  # 2 s deadline + interpreter start, far from the 126-251 s seen
    assert "or/openrouter: NOT READ: no answer within 2s (timed out)" in res.stdout
    assert "could not read or/openrouter" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    js = cli("plan", "-c", str(path), "--timeout", "2", "--json")
    report = json.loads(js.stdout)
    assert js.returncode == 1
    assert report["ok"] is False
    assert report["sources"] == [
        {
            "provider": "or",
            "source": "openrouter",
            "ok": False,
            "error": "no answer within 2s (timed out)",
        }
    ]


def test_plan_against_a_refused_port_names_the_source_and_fails(tmp_path: Path) -> None:
    path = openrouter_config(tmp_path, free_port())
    res = cli("plan", "-c", str(path), "--timeout", "20")
    assert res.returncode == 1, res.stdout + res.stderr
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith("  or/openrouter:")]
    assert "NOT READ:" in line and "timed out" not in line, line
    assert "nothing to do" in res.stdout  # no data is not a decision, and it is said why above
    assert "Traceback" not in res.stdout + res.stderr


def demo(tmp_path: Path) -> dict[str, Any]:
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["providers"]["sim"]["state_file"] = str(tmp_path / "world.json")
    cfg["providers"]["sim"]["poll_interval"] = "1s"
    for key in ("state", "listen"):
        cfg.pop(key, None)
    return cfg


def test_plan_and_status_agree_on_the_demo(tmp_path: Path) -> None:
    with DaemonProcess(demo(tmp_path), tmp_path / "d") as d:
        d.start()

        def status() -> dict[str, dict[str, Any]]:
            out = d.cli("status", "--json", check=False)
            return {r["group"]: r for r in json.loads(out.stdout or "[]")}

        # the protected ci-key spends fastest: it breaches first and is never killed
        d.wait_for(lambda: status().get("ci-key", {}).get("state") == "breached", timeout=40)
        d.wait_for(lambda: status().get("app-key", {}).get("state") == "killed", timeout=40)
        res = d.cli("status", check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "RESETS" in res.stdout and "sim/simulated: ok" in res.stdout

        def states(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
            return {g: (r["state"], r["window_end"]) for g, r in rows.items()}

        for _ in range(5):  # the daemon may act between two reads: compare a quiet moment
            before = status()
            plan = d.cli("plan", "--json", check=False)
            assert plan.returncode == 0, plan.stdout + plan.stderr
            rows = {r["group"]: r for r in json.loads(plan.stdout)["budgets"]}
            if states(before) == states(status()):
                break
        else:
            pytest.skip("the daemon changed state during every plan run")
        assert states(rows) == states(before)
        assert rows["ci-key"]["state"] in ("breached", "ok")  # never "killed": it is protected
        human = d.cli("plan", check=False).stdout
        (ci,) = [ln for ln in human.splitlines() if ln.startswith("demo-per-key [ci-key]")]
        amount = ci.split(": ", 1)[1].split(" /")[0]
        assert len(amount.split(".")[1]) == 2, ci  # rounded to cents
        d.stop()


def test_status_is_stale_when_the_source_fails(tmp_path: Path) -> None:
    cfg = demo(tmp_path)
    cfg["providers"]["sim"]["fail_polls"] = True
    with DaemonProcess(cfg, tmp_path / "d") as d:
        d.start(wait_ready=False)
        d.wait_for(lambda: d.metric("killswitch_poll_total", provider="sim", result="error"))
        res = d.cli("status", check=False)
        assert res.returncode == 1
        assert "sim/simulated: STALE: last poll failed" in res.stdout
        assert "Traceback" not in res.stdout + res.stderr
        d.stop()
