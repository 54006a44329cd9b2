"""A provider error that echoes the management key reaches no sink: logs, outbox rows, webhook,
Slack and PagerDuty bodies, source status, ``history`` output and metrics all carry ``***``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import generate_latest
from sqlalchemy import select

from killswitch import config as cfgmod
from killswitch import daemon, logs
from killswitch.state import tables as t
from killswitch.testing import FakeClock

KEY = "sk-or-v1-echoed-management-key-0123456789"
VICTIM = f"{5:064x}"


def or_key(usage: float) -> dict[str, Any]:
    return {
        "hash": VICTIM,
        "name": "victim",
        "label": "victim",
        "disabled": False,
        "limit": None,
        "usage": usage,
        "usage_daily": usage,
        "usage_weekly": usage,
        "usage_monthly": usage,
        "created_at": "2026-11-01T00:00:00Z",
    }


class World:
    """OpenRouter that lists once, then answers every call with a 401 echoing the key."""

    def __init__(self) -> None:
        self.reads = 0
        self.sent: dict[str, list[bytes]] = {"hook": [], "slack": [], "pd": []}

    def __call__(self, req: httpx.Request) -> httpx.Response:
        if req.url.host == "hooks.test":
            self.sent[req.url.path.strip("/")].append(req.content)
            return httpx.Response(202, json={"status": "success"})
        echo = {"error": {"code": 401, "message": f"No auth credentials found for {KEY}"}}
        if req.method == "GET" and req.url.path == "/api/v1/keys" and self.reads == 0:
            self.reads += 1
            return httpx.Response(200, json={"data": [or_key(25.0)]})
        if req.method == "GET" and req.url.path.startswith("/api/v1/keys/"):
            return httpx.Response(200, json={"data": or_key(25.0)})
        return httpx.Response(401, json=echo)


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "openrouter": {
                "type": "openrouter",
                "api_key": "${env:KS_TEST_OR_KEY}",
                "base_url": "http://openrouter.test/api/v1",
                "poll_interval": "60s",
            }
        },
        "budgets": [
            {
                "name": "daily",
                "provider": "openrouter",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 10,
                "actions": ["openrouter.disable-key"],
            }
        ],
        "notifiers": [
            {"type": "webhook", "url": "http://hooks.test/hook", "secret": "hook-secret-value"},
            {"type": "slack", "webhook_url": "http://hooks.test/slack"},
            {
                "type": "pagerduty",
                "routing_key": "pd-routing-key-value",
                "url": "http://hooks.test/pd",
            },
        ],
    }


def cli(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "killswitch", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout


async def test_an_echoed_key_reaches_no_sink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KS_TEST_OR_KEY", KEY)
    logs.setup("info")
    data = config(tmp_path)
    world = World()
    clock = FakeClock()
    rt = daemon.build(
        cfgmod.parse(data), clock=clock, transport=httpx.MockTransport(world), identity="t"
    )
    await rt.engine.cycle("openrouter")  # breach -> PATCH -> 401 echoing the key: kill_failed
    for _ in range(5):  # every poll now fails with the echo: stale after stale_after (3 x 60s)
        clock.advance(seconds=61)
        await rt.engine.cycle("openrouter")
    await rt.engine.drain_outbox()

    with rt.store.engine.connect() as c:
        outbox = [json.dumps(r) for r in c.execute(select(t.outbox.c.event)).scalars()]
    kinds = {json.loads(o)["event"] for o in outbox}
    assert {"kill_failed", "source_stale"} <= kinds, kinds
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "KS_TEST_OR_KEY": KEY}
    history = await asyncio.to_thread(cli, "history", "--json", "-c", str(cfg_path), env=env)
    table = await asyncio.to_thread(cli, "history", "-c", str(cfg_path), env=env)
    sinks = {
        "log": capsys.readouterr().err,
        "outbox": "\n".join(outbox),
        "webhook": b"".join(world.sent["hook"]).decode(),
        "slack": b"".join(world.sent["slack"]).decode(),
        "pagerduty": b"".join(world.sent["pd"]).decode(),
        "source_status": json.dumps(rt.store.source_statuses(), default=str),
        "history --json": history,
        "history": table,
        "metrics": generate_latest(rt.metrics.registry).decode(),
    }
    await rt.aclose()
    leaked = [name for name, text in sinks.items() if KEY in text]
    assert leaked == []
    # and the echo did travel: each text sink carries the mask where the key was
    for name in ("log", "outbox", "webhook", "slack", "pagerduty", "history --json", "history"):
        assert "***" in sinks[name], (name, sinks[name][:2000])
    assert all(world.sent.values()), world.sent
