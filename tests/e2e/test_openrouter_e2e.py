"""The real daemon against a loopback OpenRouter stand-in: breach -> disable -> signed webhook ->
metrics; then a SIGKILL in the middle of the disable and a restart: exactly one disable in total.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from killswitch.signing import verify
from killswitch.testing import DaemonProcess, Request, StandIn

pytestmark = pytest.mark.e2e
KEY = "sk-or-v1-e2e-management-key-value"
HOOK_SECRET = "e2e-hook-secret-value"
VICTIM = f"{5:064x}"


def key(i: int, usage_daily: float) -> dict[str, Any]:
    return {
        "hash": f"{i:064x}",
        "name": f"key-{i}",
        "label": f"key-{i}",
        "disabled": False,
        "limit": None,
        "limit_remaining": None,
        "limit_reset": None,
        "include_byok_in_limit": False,
        "usage": 100 + usage_daily,
        "usage_daily": usage_daily,
        "usage_weekly": usage_daily,
        "usage_monthly": usage_daily,
        "byok_usage": 0,
        "byok_usage_daily": 0,
        "byok_usage_weekly": 0,
        "byok_usage_monthly": 0,
        "created_at": "2026-11-01T00:00:00Z",
        "updated_at": None,
        "expires_at": None,
        "creator_user_id": None,
        "workspace_id": None,
    }


class FakeOpenRouter:
    def __init__(self) -> None:
        self.keys = {k["hash"]: k for k in (key(i, 1.0 + i / 100) for i in range(130))}
        self.block_patches = threading.Event()  # set: PATCHes hang until released
        self.release = threading.Event()
        self.patch_seen = threading.Event()
        self.applied: list[tuple[str, dict[str, Any]]] = []
        self.hooks: list[Request] = []
        self.server = StandIn()
        s = self.server
        s.route("GET", "/api/v1/keys")(self.list_keys)
        s.route("GET", "/api/v1/keys/[0-9a-f]+")(self.get_key)
        s.route("PATCH", "/api/v1/keys/[0-9a-f]+")(self.patch_key)
        s.route("POST", "/hook")(self.hook)

    def list_keys(self, r: Request) -> tuple[int, Any]:
        assert r.headers["authorization"] == f"Bearer {KEY}"
        off = int(r.query.get("offset", ["0"])[0])
        return 200, {"data": list(self.keys.values())[off : off + 100]}

    def get_key(self, r: Request) -> tuple[int, Any]:
        return 200, {"data": self.keys[r.path.rsplit("/", 1)[1]]}

    def patch_key(self, r: Request) -> tuple[int, Any]:
        h = r.path.rsplit("/", 1)[1]
        if self.block_patches.is_set():
            self.patch_seen.set()
            self.release.wait(30)
            return 503, {"error": {"code": 503, "message": "unavailable"}}  # never applied
        body = r.json()
        self.keys[h].update(body)
        self.applied.append((h, body))
        return 200, {"data": self.keys[h]}

    def hook(self, r: Request) -> tuple[int, Any]:
        self.hooks.append(r)
        return 200, {}


@pytest.fixture
def fake() -> Any:
    f = FakeOpenRouter()
    f.server.start()
    yield f
    f.release.set()
    f.server.stop()


def config(fake: FakeOpenRouter) -> dict[str, Any]:
    return {
        "max_actions_per_cycle": 5,
        "metrics": {"per_target": "all"},  # these assertions read the series of ok groups too
        "protect": [f"{7:064x}"],
        "outbox_interval": 0.5,
        "providers": {
            "openrouter": {
                "type": "openrouter",
                "api_key": "${env:OR_KEY}",
                "base_url": f"{fake.server.url}/api/v1",
                "poll_interval": "1s",
            }
        },
        "budgets": [
            {
                "name": "per-key-daily",
                "provider": "openrouter",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 10,
                "warn_at": [0.5, 0.8],
                "actions": ["openrouter.disable-key"],
                "restore": "on_reset",
            }
        ],
        "notifiers": [
            {"type": "webhook", "url": f"{fake.server.url}/hook", "secret": "${env:HOOK_SECRET}"}
        ],
    }


def test_breach_kill_crash_resume_exactly_once(fake: FakeOpenRouter, tmp_path: Path) -> None:
    env = {"OR_KEY": KEY, "HOOK_SECRET": HOOK_SECRET}
    d = DaemonProcess(config(fake), tmp_path, env=env)
    with d:
        d.start()
        assert (
            d.metric("killswitch_budget_state", budget="per-key-daily", target=VICTIM, state="ok")
            == 1.0
        )
        fake.block_patches.set()
        fake.keys[VICTIM]["usage_daily"] = 12.5  # over the $10 cap
        fake.keys[f"{7:064x}"]["usage_daily"] = 50.0  # protected: never touched
        assert fake.patch_seen.wait(30), d.logs()[-3000:]
        d.kill9()  # dies while the provider call is in flight
    fake.release.set()
    pending = [r for r in d.history() if r["op"] == "kill"]
    assert [(r["target"], r["status"]) for r in pending] == [(VICTIM, "pending")]
    assert pending[0]["prior"] == {"disabled": False}  # journaled with the intent
    assert fake.applied == []

    fake.block_patches.clear()
    with DaemonProcess(config(fake), tmp_path, env=env) as d2:
        d2.config_path = d.config_path
        d2.start(wait_ready=False)
        d2.wait_for(lambda: fake.keys[VICTIM]["disabled"] is True)
        d2.wait_for(
            lambda: (
                d2.metric(
                    "killswitch_budget_state", budget="per-key-daily", target=VICTIM, state="killed"
                )
                == 1.0
            )
        )
        d2.wait_for(lambda: any(json.loads(h.body)["event"] == "kill" for h in fake.hooks))
        for _ in range(3):  # a few more cycles: still exactly one disable
            n = len(fake.server.matching("GET", "/api/v1/keys"))
            d2.wait_for(lambda n=n: len(fake.server.matching("GET", "/api/v1/keys")) > n + 1)
        assert fake.applied == [(VICTIM, {"disabled": True})]
        assert fake.keys[f"{7:064x}"]["disabled"] is False
        assert (
            d2.metric("killswitch_actions_total", action="openrouter.disable-key", result="success")
            == 1.0
        )
        assert d2.metric("killswitch_spend_usd", budget="per-key-daily", target=VICTIM) == 12.5
        assert (
            d2.metric("killswitch_source_stale", provider="openrouter", source="openrouter") == 0.0
        )
        assert d2.stop() == 0
    (kill,) = [r for r in d.history() if r["op"] == "kill"]
    assert (kill["status"], kill["prior"]) == ("done", {"disabled": False})

    kills = [h for h in fake.hooks if json.loads(h.body)["event"] == "kill"]
    assert len(kills) == 1
    hook = kills[0]
    assert verify(
        HOOK_SECRET,
        hook.headers["x-killswitch-timestamp"],
        hook.body,
        hook.headers["x-killswitch-signature"],
    )
    body = json.loads(hook.body)
    assert body["group"] == VICTIM and body["spend"] == "12.50" and body["limit"] == "10"
    assert body["actions"][0]["result"] == "success"
    assert "killswitch restore" in body["restore_hint"]
    events = [json.loads(h.body)["event"] for h in fake.hooks]
    assert "protected" in events
    logs = d.logs()
    assert KEY not in logs and HOOK_SECRET not in logs
    assert KEY not in json.dumps(d.history())

    # Manual restore from the CLI undoes exactly what was done.
    res = d.cli("restore", "per-key-daily", "--target", VICTIM)
    assert res.returncode == 0, res.stderr
    assert fake.keys[VICTIM]["disabled"] is False
    assert fake.applied[-1] == (VICTIM, {"disabled": False})
