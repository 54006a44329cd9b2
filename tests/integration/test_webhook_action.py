"""The generic webhook action: custom kill logic behind a signed POST, with undo."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.signing import verify
from killswitch.testing import FakeClock


async def test_webhook_action_posts_kill_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACT_SECRET", "action-secret-xyz")
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))
    clock = FakeClock()
    data = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "sim": {
                "type": "simulated",
                "start": clock.now.isoformat(),
                "targets": [{"id": "a", "rate_usd_per_second": 0.01}],
            }
        },
        "budgets": [
            {
                "name": "team",
                "provider": "sim",
                "scope": {"all": True},
                "window": "interval:1h",
                "limit_usd": 10,
                "actions": [
                    {
                        "type": "webhook",
                        "url": "https://ops.example/kill",
                        "secret": "${env:ACT_SECRET}",
                    }
                ],
            }
        ],
    }
    rt = daemon.build(cfgmod.parse(data), clock=clock, transport=transport, identity="t")
    clock.advance(minutes=20)
    await rt.engine.cycle("sim")
    (kill,) = seen
    assert str(kill.url) == "https://ops.example/kill"  # as configured, no trailing slash
    body = json.loads(kill.content)
    assert (body["op"], body["budget"], body["target"], body["limit"]) == (
        "kill",
        "team",
        "*",
        "10",
    )
    assert verify(
        "action-secret-xyz",
        kill.headers["x-killswitch-timestamp"],
        kill.content,
        kill.headers["x-killswitch-signature"],
    )
    (row,) = rt.store.journal_rows()
    assert "secret" not in row.params  # the secret is never journaled
    clock.advance(minutes=40)
    await rt.engine.cycle("sim")
    clock.advance(minutes=1)
    await rt.engine.cycle("sim")
    assert [json.loads(r.content)["op"] for r in seen] == ["kill", "restore"]
