"""The real daemon against a loopback Anthropic Admin API stand-in with a live usage ramp.

Six API keys in two workspaces plus Workbench spend all the time; the usage report is served in
pages of 25 buckets (2 just after midnight). At a known moment one key ramps over its
$1-per-minute cap: exactly that key must be deactivated (prior status journaled), and
re-activated when the window resets; the drift gauge must show the one workspace whose bill
differs from its usage. The time from the crossing (in the stand-in's world) to the
deactivation request is measured and printed.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from killswitch.testing import DaemonProcess, Request, StandIn

from .fake import DAY, MIN, FakeAnthropic, api_key, cost_result, floor, usage_result

pytestmark = pytest.mark.e2e
ADMIN_KEY = "sk-ant-admin01-e2e-stand-in-key"
WS_A, WS_B = "wrkspc_01E2eAlpha", "wrkspc_01E2eBravo"
KEYS = {f"apikey_01E2e{i}": (WS_A if i < 3 else WS_B) for i in range(6)}
VICTIM = "apikey_01E2e4"
LIMIT = Decimal(1)  # USD per key per minute
TICK = 0.25  # seconds between traffic ticks
PER_TOKEN = Decimal(3) / 1_000_000  # claude-sonnet-4 uncached input
BILLING_GAP = Decimal("0.40")  # workspace B is billed this much more than its usage shows


class World:
    """Live traffic: every active key spends a little each tick; the victim can be ramped."""

    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        self.rate = {k: Decimal("0.002") for k in KEYS} | {"workbench": Decimal("0.001")}
        self.minute_spend: dict[tuple[str, datetime], Decimal] = {}
        self.billed = {WS_A: Decimal(0), WS_B: BILLING_GAP, "default": Decimal(0)}
        self.crossed: list[tuple[float, datetime]] = []  # (monotonic, minute) of each crossing
        self.paused = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(TICK):
            if not self.paused.is_set():
                self.tick()

    def tick(self) -> None:
        now = datetime.now(UTC)
        minute = floor(now, MIN)
        with self.fake.lock:
            for key, rate in self.rate.items():
                if key != "workbench" and self.fake.keys[key]["status"] != "active":
                    continue  # a deactivated key gets 401s: no usage
                tokens = int(rate / PER_TOKEN)
                ws = KEYS.get(key)
                self.fake.add_usage(
                    now, usage_result(None if key == "workbench" else key, ws, uncached=tokens)
                )
                usd = tokens * PER_TOKEN
                before = self.minute_spend.get((key, minute), Decimal(0))
                self.minute_spend[(key, minute)] = before + usd
                if key == VICTIM and before < LIMIT <= before + usd:
                    self.crossed.append((time.monotonic(), minute))
                self.billed[ws or "default"] += usd
            today = floor(now, DAY)
            self.fake.costs[today] = [
                cost_result(str(amount * 100), workspace=None if ws == "default" else ws)
                for ws, amount in self.billed.items()
            ]


def stand_in(fake: FakeAnthropic) -> StandIn:
    s = StandIn()

    def route(r: Request) -> tuple[int, Any]:
        if (
            r.headers.get("x-api-key") != ADMIN_KEY
            or r.headers.get("anthropic-version") != "2023-06-01"
        ):
            return 401, {
                "type": "error",
                "error": {"type": "authentication_error", "message": "bad key"},
            }
        return fake.handle(r.method, r.path, r.query, r.json() if r.body else None)

    s.route("GET", r"/v1/organizations/.*")(route)
    s.route("POST", r"/v1/organizations/.*")(route)
    return s


def config(url: str) -> dict[str, Any]:
    return {
        "max_actions_per_cycle": 5,
        "providers": {
            "anthropic": {
                "type": "anthropic",
                "admin_key": "${env:ANTHROPIC_ADMIN_KEY}",
                "base_url": url,
                "poll_interval": "1s",  # allowed only because the base_url is loopback
                "reconcile_interval": "1s",
            }
        },
        "budgets": [
            {
                "name": "anthropic-key-minute",
                "provider": "anthropic",
                "scope": {"each": "key"},
                "window": "interval:1m",
                "limit_usd": str(LIMIT),
                "fail_closed": True,
                "actions": ["anthropic.deactivate-key"],
                "restore": "on_reset",
            },
            {  # reads the day from midnight: the first poll pages through every minute of it
                "name": "anthropic-org-daily",
                "provider": "anthropic",
                "scope": {"all": True},
                "window": "daily",
                "limit_usd": 100000,
                "mode": "alert-only",
            },
        ],
    }


def posts(fake: FakeAnthropic) -> list[tuple[str, str]]:
    return [(k, b["status"]) for k, b in fake.posts]


def test_ramp_kills_exactly_the_victim_restores_at_reset_and_reports_drift(tmp_path: Path) -> None:
    # The first poll reads the day so far in 1-minute buckets; just after midnight there are
    # fewer than 25 of them, so the page size shrinks with the hour and paging is still exercised.
    minute_of_day = int((datetime.now(UTC) - floor(datetime.now(UTC), DAY)).total_seconds() // 60)
    page_size = 25 if minute_of_day >= 250 else 2
    fake = FakeAnthropic(clock=lambda: datetime.now(UTC), admin_key=ADMIN_KEY, page_size=page_size)
    for k, ws in KEYS.items():
        fake.keys[k] = api_key(k, workspace=ws)
    world = World(fake)
    server = stand_in(fake).start()
    world.thread.start()
    d = DaemonProcess(config(server.url), tmp_path, env={"ANTHROPIC_ADMIN_KEY": ADMIN_KEY})
    try:
        with d:
            d.start()
            # Ramp at second ~3 of a minute so the kill lands well inside that minute's window.
            while not 2.5 < datetime.now(UTC).second < 20:
                time.sleep(0.2)
            world.rate[VICTIM] = Decimal("0.10")  # ~$0.40/s: over $1 in under 3 s
            d.wait_for(lambda: (VICTIM, "inactive") in posts(fake), timeout=30)
            kill_at = fake.times[next(i for i, r in enumerate(fake.requests) if r[0] == "POST")]
            crossed_at, crossed_minute = world.crossed[0]
            latency = kill_at - crossed_at
            polls = [
                t
                for (_, path, q), t in zip(fake.requests, fake.times, strict=False)
                if path.endswith("usage_report/messages") and "page" not in q
            ]
            gaps = [b - a for a, b in itertools.pairwise(polls)]
            print(
                f"\nANTHROPIC_E2E detection latency {latency:.2f}s "
                f"(poll gap median {statistics.median(gaps):.2f}s, stand-in has no data lag)"
            )
            assert latency < 10
            assert (
                d.metric(
                    "killswitch_budget_state",
                    budget="anthropic-key-minute",
                    target=VICTIM,
                    state="killed",
                )
                == 1.0
            )
            (kill,) = [r for r in d.history() if r["op"] == "kill"]
            assert (kill["target"], kill["status"], kill["prior"]) == (
                VICTIM,
                "done",
                {"status": "active"},
            )

            # The runaway stops once its key is dead; were it still ramping, the restored key
            # would re-cross within seconds and the "restored" gauge below would race a re-kill.
            world.rate[VICTIM] = Decimal("0.002")
            # The next minute is a new window: restored once its (covered) spend is known.
            d.wait_for(lambda: (VICTIM, "active") in posts(fake), timeout=80)
            restored_minute = floor(datetime.now(UTC), MIN)
            assert restored_minute > crossed_minute
            assert posts(fake) == [(VICTIM, "inactive"), (VICTIM, "active")]
            assert all(k["status"] == "active" for k in fake.keys.values())
            # The restored key is back under its warning line, so its per-target series is gone
            # (per_target: breaching); the budget's aggregate says no group is killed.
            d.wait_for(
                lambda: (
                    d.metric(
                        "killswitch_budget_groups", budget="anthropic-key-minute", state="killed"
                    )
                    == 0.0
                ),
                timeout=30,
            )

            # Drift: freeze the world, let a poll and a reconciliation pass, read the gauge.
            world.paused.set()
            day = floor(datetime.now(UTC), DAY).date().isoformat()

            def drift(ws: str) -> float | None:
                return d.metric(
                    "killswitch_estimate_drift_usd", provider="anthropic", workspace=ws, day=day
                )

            def settled() -> bool:
                values = [drift(WS_A), drift(WS_B), drift("default")]
                if any(v is None for v in values):
                    return False
                a, b, wb = (float(v or 0) for v in values)
                return abs(a) < 1e-9 and abs(b + float(BILLING_GAP)) < 1e-9 and abs(wb) < 1e-9

            d.wait_for(settled, timeout=20)  # usage x price == bill, except B's extra $0.40
            assert (
                d.metric("killswitch_source_stale", provider="anthropic", source="anthropic.usage")
                == 0.0
            )
            first = fake.queries()[0]
            assert first["starting_at"][0].endswith("T00:00:00Z")  # the whole day, in pages
            pages_of_first_read = minute_of_day // page_size  # buckets 0..minute_of_day
            assert sum(1 for q in fake.queries() if "page" in q) >= min(10, pages_of_first_read)
            assert d.stop() == 0
        assert ADMIN_KEY not in d.logs()
    finally:
        world.stop.set()
        server.stop()
