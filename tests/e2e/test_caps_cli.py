"""``killswitch caps`` as an operator runs it, against a loopback OpenRouter stand-in: configured
vs actual cap per key, exit 1 on drift or an unreadable cap, exit 0 when all agree, bounded by
``--timeout``; it reads and never writes. And ``check-config`` refusing a shape with no cap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from killswitch.testing import Request, StandIn

pytestmark = pytest.mark.e2e
KEY = "sk-or-v1-caps-cli-management-key"
A, B = (f"{i:064x}" for i in (1, 2))


def key(h: str, limit: float | None, reset: str | None) -> dict[str, Any]:
    return {"hash": h, "name": h[-4:], "disabled": False, "limit": limit, "limit_reset": reset}


@pytest.fixture
def openrouter() -> Iterator[tuple[StandIn, dict[str, dict[str, Any]]]]:
    keys = {
        A: key(A, 10, "daily"),
        B: key(B, 50, "daily"),
    }
    s = StandIn()

    @s.route("GET", "/api/v1/keys")
    def list_keys(r: Request) -> tuple[int, Any]:
        assert r.headers["authorization"] == f"Bearer {KEY}"
        return 200, {"data": [_counters(k) for k in keys.values()]}

    s.start()
    try:
        yield s, keys
    finally:
        s.stop()


def _counters(k: dict[str, Any]) -> dict[str, Any]:
    return {"usage": 1, "usage_daily": 1, "usage_weekly": 1, "usage_monthly": 1, **k}


def write_config(tmp_path: Path, port: int, **budget: Any) -> Path:
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
                "name": "per-key-daily",
                "provider": "or",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 10,
                "native_cap": True,
                "actions": ["openrouter.disable-key"],
                **budget,
            }
        ],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OR_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "killswitch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_caps_shows_drift_and_exits_1_then_0_when_in_sync(
    tmp_path: Path, openrouter: tuple[StandIn, dict[str, dict[str, Any]]]
) -> None:
    stand, keys = openrouter
    path = write_config(tmp_path, stand.port)
    res = cli("caps", "-c", str(path))
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert (
        f"per-key-daily [true] or/{A}: configured 10 USD daily, actual 10 USD daily: in_sync"
        in lines
    )
    assert (
        f"per-key-daily [true] or/{B}: configured 10 USD daily, actual 50 USD daily: drift" in lines
    )
    assert stand.matching("PATCH", ".*") == []  # caps reads; only the daemon sets caps back
    assert KEY not in res.stdout + res.stderr

    js = cli("caps", "-c", str(path), "--json")
    report = json.loads(js.stdout)
    assert js.returncode == 1 and report["ok"] is False
    by = {r["target"]: r for r in report["caps"]}
    assert by[B]["actual"] == {"amount": "50", "currency": "USD", "reset": "daily"}
    assert by[B]["configured"] == {"amount": "10", "currency": "USD", "reset": "daily"}

    keys[B]["limit"] = 10.0
    ok = cli("caps", "-c", str(path))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": in_sync") == 2


def test_an_unreadable_cap_is_listed_with_its_reason(
    tmp_path: Path, openrouter: tuple[StandIn, dict[str, dict[str, Any]]]
) -> None:
    stand, keys = openrouter
    keys[A]["limit"] = "ten"  # a shape the spec does not allow: never read as "no cap"
    res = cli("caps", "-c", str(write_config(tmp_path, stand.port)), "--json")
    assert res.returncode == 1
    (bad,) = [r for r in json.loads(res.stdout)["caps"] if r["target"] == A]
    assert bad["status"] == "unreadable" and "limit is not a number" in bad["reason"]
    assert stand.matching("GET", "/api/v1/keys/.*") == []  # the listing carries every cap

    stand.routes[("GET", "/api/v1/keys")] = lambda r: (500, {"error": {"message": "down"}})
    res = cli("caps", "-c", str(write_config(tmp_path, stand.port)))
    assert res.returncode == 1
    (line,) = res.stdout.splitlines()
    assert line.startswith("per-key-daily [true] or/*: configured 10 USD daily, actual -: ")
    assert "unreadable (GET /keys -> HTTP 500" in line


def test_check_config_refuses_native_cap_on_a_rolling_window(tmp_path: Path) -> None:
    res = cli(
        "check-config", "--offline", "-c", str(write_config(tmp_path, 9, window="rolling:24h"))
    )
    assert res.returncode == 2
    assert "budgets[0].native_cap" in res.stderr and "limit_reset" in res.stderr
    assert "Traceback" not in res.stderr
