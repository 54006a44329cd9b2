"""The real daemon against a loopback OpenAI Admin API stand-in with a live usage ramp.

Six keys in two projects spend all the time; the stand-in pages its usage (25 buckets a page,
so every poll pages). The daemon runs on a virtual clock (``clockshim``) that starts at noon
UTC: at a known moment one key ramps over its $5 daily cap. It must be acted on, and only it:
deleted (budget ``key-daily-delete``) and its project held by a hard spend limit
(``key-daily-limit``, reversible). Moving the clock past midnight must lift that limit back to
the project's own prior limit. The drift gauge must show the one project billed $0.40 more than
its usage on the completed day before. Detection latency (first over-cap usage served -> first
kill request) is measured and printed.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from killswitch.testing import DaemonProcess, Request, StandIn

from .conftest import check_exchanges
from .contract import load_contract
from .fake import FakeOpenAI

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent
ADMIN_KEY = "sk-admin-e2e-stand-in-key-value"
P1, P2 = "proj_e2eAlpha", "proj_e2eBravo"
KEYS = {f"key_e2e{p[-5]}{i}": p for p in (P1, P2) for i in range(3)}
VICTIM = "key_e2eB1"
CAP = Decimal(5)
MODEL = "e2e-model"  # priced in config: $1 per million input tokens
BASE_TOKENS = 4_000  # $0.004 per key per tick
RAMP_TOKENS = 400_000  # $0.40 per tick: over the cap in a few seconds
TICK = 0.25
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 24, 0, 0, 20, tzinfo=UTC)
GAP = 0.40  # P2 is billed this much more than its usage on each reconciled day
PRIOR_LIMIT = 100_000  # P2's own $1000 monthly limit, in cents


class VirtualClock:
    """Real time plus an offset kept in a file the daemon's clock shim reads too."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, at: datetime) -> None:
        self.path.write_text(repr((at - datetime.now(UTC)).total_seconds()))

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=float(self.path.read_text()))


class World:
    """Traffic: every key spends each tick unless deleted or its project is over its limit."""

    def __init__(self, fake: FakeOpenAI, clock: VirtualClock) -> None:
        self.fake = fake
        self.clock = clock
        self.rate = dict.fromkeys(KEYS, BASE_TOKENS)
        self.spent: dict[tuple[str, date], Decimal] = {}
        self.billed: dict[tuple[str, date], Decimal] = {}
        self.crossed: list[tuple[float, datetime]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.history()

    def history(self) -> None:
        # Nov 1-22 billed; Nov 21-22 also in usage (the reconciled days); $1 per key at 09:00.
        for d in range(1, 23):
            day = datetime(2026, 11, d, tzinfo=UTC)
            for p in (P1, P2):
                self.billed[(p, day.date())] = Decimal(3) + (Decimal(str(GAP)) if p == P2 else 0)
            if d >= 21:
                for k, p in KEYS.items():
                    for h in range(0, 20, 2):
                        self.fake.add_completion(
                            day + timedelta(hours=h), p, k, MODEL, input=100_000
                        )
        for k, p in KEYS.items():
            self.fake.add_completion(NOON.replace(hour=9), p, k, MODEL, input=1_000_000)
            self.spent[(k, NOON.date())] = Decimal(1)
            self.billed[(p, NOON.date())] = self.billed.get((p, NOON.date()), Decimal(0)) + 1
        self.publish_costs()

    def publish_costs(self) -> None:
        self.fake.costs = [
            (
                datetime(d.year, d.month, d.day, tzinfo=UTC),
                {"project_id": p, "line_item": f"{MODEL}, input", "value": float(v)},
            )
            for (p, d), v in sorted(self.billed.items())
        ]

    def blocked(self, project: str, today: date) -> bool:
        lim = self.fake.spend_limits.get(project)
        if lim is None:
            return False
        month = sum(
            (v for (p, d), v in self.billed.items() if p == project and d.month == today.month),
            Decimal(0),
        )
        return Decimal(lim["threshold_amount"]) / 100 <= month

    def run(self) -> None:
        while not self.stop.wait(TICK):
            self.tick()

    def tick(self) -> None:
        now = self.clock()
        with self.fake.lock:
            for key, tokens in self.rate.items():
                project = KEYS[key]
                if key not in self.fake.keys or self.blocked(project, now.date()):
                    continue  # deleted keys and held projects get errors: no usage
                self.fake.add_completion(now, project, key, MODEL, input=tokens)
                usd = Decimal(tokens) / 1_000_000
                before = self.spent.get((key, now.date()), Decimal(0))
                self.spent[(key, now.date())] = before + usd
                if key == VICTIM and before < CAP <= before + usd:
                    self.crossed.append((time.monotonic(), now))
                self.billed[(project, now.date())] = (
                    self.billed.get((project, now.date()), Decimal(0)) + usd
                )
            self.publish_costs()


def stand_in(fake: FakeOpenAI) -> StandIn:
    s = StandIn()

    def route(r: Request) -> tuple[int, Any, dict[str, str]]:
        url = f"http://127.0.0.1{r.path}" + (
            f"?{urlencode(r.query, doseq=True)}" if r.query else ""
        )
        return fake.handle(r.method, url, r.headers, r.body)

    for method in ("GET", "POST", "DELETE"):
        s.route(method, r"/v1/organization/.*")(route)
    return s


def config(url: str) -> dict[str, Any]:
    provider = {
        "type": "openai",
        "admin_key": "${env:OPENAI_ADMIN_KEY}",
        "base_url": f"{url}/v1",
        "poll_interval": "1s",
        "page_interval": 0,
        "usage_types": ["completions", "embeddings"],
        "reconcile_interval": "1s",
        "reconcile_settle": "1s",
    }
    budget = {
        "provider": "openai",
        "scope": {"each": "key"},
        "window": "daily",
        "limit_usd": str(CAP),
    }
    return {
        "max_actions_per_cycle": 5,
        "metrics": {"per_target": "all"},  # these assertions read the series of ok groups too
        "providers": {"openai": provider},
        "budgets": [
            {
                "name": "key-daily-delete",
                **budget,
                "actions": ["openai.delete-key"],
                "allow_irreversible": True,
            },
            {
                "name": "key-daily-limit",
                **budget,
                "actions": ["openai.spend-limit"],
                "restore": "on_reset",
            },
        ],
        "prices": {"openai": {MODEL: {"input": 1, "output": 4}}},
    }


def paths(fake: FakeOpenAI, method: str, pattern: str) -> list[str]:
    return [e.url.split("/v1", 1)[1].split("?")[0] for e in fake.requests(method, pattern)]


def first_serving_over_cap(fake: FakeOpenAI, crossed_at: float, crossed_v: datetime) -> float:
    """When a usage answer first carried the victim's over-cap minute."""
    for e in fake.exchanges:
        if e.at < crossed_at or "/usage/completions" not in e.url or e.status != 200:
            continue
        for b in e.response["data"]:
            if b["start_time"] <= crossed_v.timestamp() < b["end_time"] and any(
                r["api_key_id"] == VICTIM for r in b["results"]
            ):
                return e.at
    raise AssertionError("the over-cap usage was never served")


def test_ramp_acts_on_exactly_the_victim_restores_at_reset_and_reports_drift(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(tmp_path / "clock-offset")
    clock.set(NOON)
    fake = FakeOpenAI(clock, admin_key=ADMIN_KEY, page_cap=25)
    for p in (P1, P2):
        fake.add_project(p)
    for k, p in KEYS.items():
        fake.add_key(p, k)
    fake.spend_limits[P2] = {
        "object": "project.spend_limit",
        "threshold_amount": PRIOR_LIMIT,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "inactive"},
    }
    world = World(fake, clock)
    server = stand_in(fake).start()
    env = {
        "OPENAI_ADMIN_KEY": ADMIN_KEY,
        "KILLSWITCH_TEST_CLOCK_FILE": str(clock.path),
        "PYTHONPATH": os.pathsep.join([str(HERE / "clockshim"), os.environ.get("PYTHONPATH", "")]),
    }
    d = DaemonProcess(config(server.url), tmp_path / "d", env=env)
    try:
        with d:
            d.start(timeout=60)
            world.thread.start()

            def drift(project: str) -> float | None:
                return d.metric(
                    "killswitch_estimate_drift_usd",
                    provider="openai",
                    project=project,
                    day="2026-11-22",
                )

            d.wait_for(lambda: drift(P1) is not None and drift(P2) is not None, timeout=30)
            assert drift(P1) == pytest.approx(0, abs=1e-9)
            assert drift(P2) == pytest.approx(-GAP, abs=1e-9)

            time.sleep(2)  # a few quiet cycles: nobody is near the cap
            assert fake.requests("DELETE", ".*") == [] and fake.requests("POST", ".*") == []
            world.rate[VICTIM] = RAMP_TOKENS
            d.wait_for(
                lambda: fake.requests("DELETE", ".*") and fake.requests("POST", ".*spend_limit"),
                timeout=30,
            )
            kill_at = min(e.at for e in fake.exchanges if e.method in ("DELETE", "POST"))
            crossed_at, crossed_v = world.crossed[0]
            served_at = first_serving_over_cap(fake, crossed_at, crossed_v)
            polls = [
                e.at
                for e in fake.exchanges
                if "/usage/completions" in e.url and "page=" not in e.url
            ]
            gaps = sorted(b - a for a, b in itertools.pairwise(polls))
            print(
                f"\nOPENAI_E2E detection latency {kill_at - served_at:.3f}s from first over-cap "
                f"usage served to the first kill request; {kill_at - crossed_at:.2f}s from the "
                f"crossing in the stand-in's world (poll gap median {gaps[len(gaps) // 2]:.2f}s, "
                f"{len(polls)} polls, no data lag in the stand-in)"
            )
            assert kill_at - served_at < 5

            # Exactly the victim: one DELETE (its key, in its project), one limit (its project).
            d.wait_for(lambda: len([r for r in d.history() if r["op"] == "kill"]) == 2, timeout=20)
            assert paths(fake, "DELETE", ".*") == [f"/organization/projects/{P2}/api_keys/{VICTIM}"]
            assert paths(fake, "POST", ".*") == [f"/organization/projects/{P2}/spend_limit"]
            kills = sorted(
                (r["budget"], r["group"], r["target"], r["status"])
                for r in d.history()
                if r["op"] == "kill"
            )
            assert kills == [
                ("key-daily-delete", VICTIM, VICTIM, "done"),
                ("key-daily-limit", VICTIM, P2, "done"),
            ]
            limit_kill = next(r for r in d.history() if r["budget"] == "key-daily-limit")
            assert limit_kill["prior"]["prior_limit"] == {
                "threshold_amount": PRIOR_LIMIT,
                "currency": "USD",
                "interval": "month",
            }
            held = fake.spend_limits[P2]["threshold_amount"]
            assert 1 <= held < PRIOR_LIMIT and held == limit_kill["prior"]["set_cents"]
            assert set(fake.keys) == set(KEYS) - {VICTIM}
            d.wait_for(
                lambda: (
                    d.metric(
                        "killswitch_budget_state",
                        budget="key-daily-limit",
                        target=VICTIM,
                        state="killed",
                    )
                    == 1.0
                )
            )
            for k in set(KEYS) - {VICTIM}:
                assert (
                    d.metric(
                        "killswitch_budget_state",
                        budget="key-daily-limit",
                        target=k,
                        state="killed",
                    )
                    == 0.0
                )

            # Past midnight: a new daily window; the limit goes back to the project's own.
            clock.set(NEXT_DAY)
            d.wait_for(lambda: fake.spend_limits[P2]["threshold_amount"] == PRIOR_LIMIT, timeout=30)
            d.wait_for(
                lambda: any(r["op"] == "restore" and r["status"] == "done" for r in d.history()),
                timeout=20,
            )
            restores = [
                (r["budget"], r["target"], r["status"]) for r in d.history() if r["op"] == "restore"
            ]
            assert restores == [("key-daily-limit", P2, "done")]  # a deletion is not undone
            assert paths(fake, "POST", ".*") == [f"/organization/projects/{P2}/spend_limit"] * 2
            assert (
                d.metric("killswitch_source_stale", provider="openai", source="openai.usage") == 0.0
            )
            assert sum(1 for e in fake.exchanges if "page=" in e.url) >= 10
            assert d.stop() == 0
        assert ADMIN_KEY not in d.logs()
    finally:
        world.stop.set()
        server.stop()
    check_exchanges(load_contract(), fake)
