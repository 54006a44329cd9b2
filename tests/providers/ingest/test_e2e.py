"""The real daemon with an ingest endpoint: pushed spend over a budget kills through the webhook
action; a daemon SIGKILLed right after a 200 still has the events when it comes back."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from killswitch.testing import DaemonProcess, Request, StandIn, free_port

pytestmark = pytest.mark.e2e
TOKEN = "e2e-ingest-token-0123456789"


def config(port: int, hook: str, limit: float = 10) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},
        "outbox_interval": 0.5,
        "providers": {
            "push": {
                "type": "ingest",
                "poll_interval": "1s",
                "listen": f"127.0.0.1:{port}",
                "tokens": ["${env:INGEST_TOKEN}"],
            }
        },
        "budgets": [
            {
                "name": "per-key-daily",
                "provider": "push",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": limit,
                "restore": "manual",
                "actions": [{"type": "webhook", "url": f"{hook}/kill"}],
            }
        ],
    }


def push(port: int, *evs: tuple[str, str, str]) -> httpx.Response:
    now = datetime.now(UTC).isoformat()
    body = {
        "events": [
            {"id": i, "time": now, "dims": {"key": k}, "amount": a, "currency": "USD"}
            for i, k, a in evs
        ]
    }
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/spend",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )


def spend(d: DaemonProcess, key: str) -> float | None:
    return d.metric("killswitch_spend_usd", budget="per-key-daily", target=key)


def test_pushed_spend_over_the_limit_trips_a_kill(tmp_path: Path) -> None:
    kills: list[Request] = []
    hook = StandIn()
    hook.route("POST", "/kill")(lambda r: kills.append(r) or (200, {}))
    hook.start()
    port = free_port()
    d = DaemonProcess(config(port, hook.url), tmp_path, env={"INGEST_TOKEN": TOKEN})
    try:
        with d:
            d.start()
            assert push(port, ("e1", "victim", "6"), ("e2", "bystander", "2")).json() == {
                "accepted": 2,
                "duplicates": 0,
            }
            d.wait_for(lambda: spend(d, "victim") == 6.0)
            assert kills == []
            assert push(port, ("e3", "victim", "4.5")).status_code == 200
            d.wait_for(lambda: kills)
            state = "killswitch_budget_state"
            d.wait_for(
                lambda: d.metric(state, budget="per-key-daily", target="victim", state="killed")
            )
            assert d.metric(state, budget="per-key-daily", target="bystander", state="ok") == 1.0
            assert push(port, ("e3", "victim", "4.5")).json()["duplicates"] == 1
            assert d.stop() == 0
    finally:
        hook.stop()
    (kill,) = kills
    body = json.loads(kill.body)
    assert (body["op"], body["target"], body["spend"]) == ("kill", "victim", "10.5")
    assert [(r["target"], r["status"]) for r in d.history()] == [("victim", "done")]
    assert TOKEN not in d.logs()


def test_events_acknowledged_before_a_sigkill_are_there_after_restart(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(port, "http://127.0.0.1:9", limit=1000)
    d = DaemonProcess(cfg, tmp_path, env={"INGEST_TOKEN": TOKEN})
    with d:
        d.start()
        batch = [(f"e{i}", "k1", "0.5") for i in range(50)]
        answer = push(port, *batch)
        d.kill9()  # at once: no graceful stop, no poll may have read them yet
        assert answer.json() == {"accepted": 50, "duplicates": 0}
        with sqlite3.connect(tmp_path / "state.db") as db:
            (n,) = db.execute("SELECT count(*) FROM ingest_events").fetchone()
        assert n == 50
        d.start()
        d.wait_for(lambda: spend(d, "k1") == 25.0)
        assert push(port, *batch).json() == {"accepted": 0, "duplicates": 50}
        assert d.stop() == 0
