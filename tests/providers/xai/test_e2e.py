"""The real daemon against a loopback xAI Management API stand-in with live team spend.

The team's month-to-date spend climbs past its $50 cap while the daemon polls every second:
every key of the team except the excluded on-call key is disabled, keys already disabled stay
untouched, the priors are journaled; ``killswitch restore`` then puts back exactly the prior
state. (A monthly window cannot reset inside a test: ``test_engine.py`` covers the reset with
a fake clock.) The time from the crossing to the first disable request is measured and printed.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from killswitch.testing import DaemonProcess, Request, StandIn

from .fake import TEAM, FakeXai, key

pytestmark = pytest.mark.e2e
TOKEN = "xai-mgmt-e2e-stand-in-token"
LIMIT_CENTS = 5000


class Spend:
    def __init__(self, fake: FakeXai) -> None:
        self.fake = fake
        self.step = 0
        self.crossed_at: float | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.25):
            with self.fake.lock:
                before = self.fake.spend_cents
                self.fake.spend_cents += self.step
                if before < LIMIT_CENTS <= self.fake.spend_cents:
                    self.crossed_at = time.monotonic()


def stand_in(fake: FakeXai) -> StandIn:
    s = StandIn()

    def route(r: Request) -> tuple[int, Any]:
        if r.headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {"code": 16, "message": "unauthenticated"}
        return fake.handle(r.method, r.path, r.query, r.json() if r.body else None)

    for method in ("GET", "PUT"):
        s.route(method, r"/(auth|v1)/.*")(route)
    return s


def config(url: str) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},  # these assertions read the series of ok groups too
        "providers": {
            "xai": {
                "type": "xai",
                "management_key": "${env:XAI_MANAGEMENT_KEY}",
                "team_id": "${env:XAI_TEAM_ID}",
                "base_url": url,
                "poll_interval": "1s",
            }
        },
        "budgets": [
            {
                "name": "xai-monthly",
                "provider": "xai",
                "scope": {"all": True},
                "window": "monthly",
                "limit_usd": LIMIT_CENTS // 100,
                "fail_closed": True,
                "actions": [{"type": "xai.disable-key", "exclude": ["key-0001"]}],
                "restore": "on_reset",
            }
        ],
    }


def disabled(fake: FakeXai) -> dict[str, bool]:
    return {k: bool(v["disabled"]) for k, v in fake.keys.items()}


def test_team_over_its_cap_disables_every_key_but_the_excluded_and_restore_is_exact(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    fake = FakeXai(token=TOKEN, spend_cents=3000, page_size=2, year_month=(now.year, now.month))
    for i in range(1, 6):
        fake.keys[f"key-{i:04d}"] = key(i)
    fake.keys["key-0005"]["disabled"] = True
    before = {k: dict(v) for k, v in fake.keys.items()}
    spend = Spend(fake)
    server = stand_in(fake).start()
    spend.thread.start()
    env = {"XAI_MANAGEMENT_KEY": TOKEN, "XAI_TEAM_ID": TEAM}
    d = DaemonProcess(config(server.url), tmp_path, env=env)
    try:
        with d:
            d.start()
            assert (
                d.metric("killswitch_budget_state", budget="xai-monthly", target="*", state="ok")
                == 1.0
            )
            spend.step = 50  # $2 a second: over the cap in ~10 s
            d.wait_for(lambda: sum(disabled(fake).values()) == 4, timeout=40)
            first_put = fake.times[next(i for i, r in enumerate(fake.requests) if r[0] == "PUT")]
            assert spend.crossed_at is not None
            print(f"\nXAI_E2E detection latency {first_put - spend.crossed_at:.2f}s (poll 1s)")
            assert first_put - spend.crossed_at < 10
            assert disabled(fake) == {
                "key-0001": False,  # excluded: the on-call key
                "key-0002": True,
                "key-0003": True,
                "key-0004": True,
                "key-0005": True,  # was already off: not touched
            }
            assert sorted(k for k, _ in fake.puts) == ["key-0002", "key-0003", "key-0004"]
            d.wait_for(
                lambda: (
                    d.metric(
                        "killswitch_budget_state", budget="xai-monthly", target="*", state="killed"
                    )
                    == 1.0
                )
            )
            # (DaemonProcess.metric cannot filter on a label called "name"; key is enough)
            d.wait_for(
                lambda: d.metric("killswitch_xai_key_disabled", provider="xai", key="key-0003") == 1
            )  # the key list of the next poll
            assert d.stop() == 0
        (kill,) = [r for r in d.history() if r["op"] == "kill"]
        assert (kill["target"], kill["status"]) == (f"team:{TEAM}", "done")
        assert kill["prior"]["keys"]["key-0005"] == {"disabled": True}
        res = d.cli("restore", "xai-monthly")
        assert res.returncode == 0, res.stderr
        assert fake.keys == before  # every field back as it was
        assert TOKEN not in d.logs()
    finally:
        spend.stop.set()
        server.stop()
