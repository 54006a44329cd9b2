"""Forecast kills vs reactive kills: overshoot past the cap behind a provider's reporting lag.

A day in accelerated time through the real Engine (SQLite state, the simulated provider with
``lag: 5m``, one cycle per 60 s poll on a fake clock). Every key has a daily $10 cap:

* runaway keys idle along at 10% of the cap per day, then at a random time between 01:00 and
  20:00 jump to a rate that would reach the cap in 10 minutes to 4 hours (log-uniform);
* steady keys spend 90% of the cap over the day with bursty noise (log-normal per minute, bursts
  of 2-5x lasting 1-8 minutes): they must never be killed.

The same world runs twice: reactive only, and with ``forecast: {horizon: 15m, kill: true,
min_history: 10m}``. Overshoot is a runaway's true spend at the end of the day minus the cap (a
kill freezes its spend; a kill before the cap is 0 overshoot). A false kill is a steady key
killed. Target: forecast overshoot <= 25% of reactive's (median and p95), zero false kills.

Run: `.venv/bin/python benchmarks/forecast.py [--runaways 40] [--steady 20] [--seed 1]
[--smoke]`. Prints a Markdown table and writes benchmarks/results/forecast.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.logs import setup as setup_logs
from killswitch.testing import FakeClock

DAY = datetime(2026, 11, 23, tzinfo=UTC)
CAP = Decimal(10)
POLL = timedelta(seconds=60)
LAG = "5m"
FORECAST = {"horizon": "15m", "kill": True, "min_history": "10m"}
HERE = Path(__file__).parent


@dataclass(frozen=True)
class World:
    targets: list[dict[str, Any]]
    runaway_at: dict[str, datetime]
    steady: list[str]
    hours: int


def _iso(t: datetime) -> str:
    return t.isoformat()


def runaway(rnd: random.Random, i: int, hours: int) -> tuple[dict[str, Any], datetime]:
    base = CAP * Decimal("0.1") / 86400
    last_start = min(20, hours - 4) * 60
    start = DAY + timedelta(minutes=rnd.randint(60, max(61, last_start)))
    to_cap = math.exp(rnd.uniform(math.log(10 * 60), math.log(4 * 3600)))  # seconds
    rate = (CAP / Decimal(str(round(to_cap, 3)))).quantize(Decimal("0.0000001"))
    step = {"at": _iso(start), "rate_usd_per_second": str(rate)}
    return {"id": f"runaway{i}", "rate_usd_per_second": str(base), "schedule": [step]}, start


def steady(rnd: random.Random, i: int, hours: int) -> dict[str, Any]:
    """90% of the cap over ``hours`` (the simulated day), in per-minute steps of bursty noise."""
    weights, burst, boost = [], 0, 1.0
    for _ in range(hours * 60):
        if burst == 0 and rnd.random() < 0.02:
            burst, boost = rnd.randint(1, 8), rnd.uniform(2, 5)
        weights.append(rnd.lognormvariate(0, 0.5) * (boost if burst else 1.0))
        burst = max(0, burst - 1)
    per_minute = Decimal("0.9") * CAP / Decimal(str(sum(weights)))
    schedule = [
        {
            "at": _iso(DAY + timedelta(minutes=m)),
            "rate_usd_per_second": str(
                (Decimal(str(w)) * per_minute / 60).quantize(Decimal("1e-9"))
            ),
        }
        for m, w in enumerate(weights)
    ]
    return {"id": f"steady{i}", "rate_usd_per_second": "0", "schedule": schedule}


def world(runaways: int, steadies: int, seed: int, hours: int) -> World:
    rnd = random.Random(seed)
    targets, at = [], {}
    for i in range(runaways):
        t, start = runaway(rnd, i, hours)
        targets.append(t)
        at[t["id"]] = start
    names = []
    for i in range(steadies):
        t = steady(rnd, i, hours)
        targets.append(t)
        names.append(t["id"])
    return World(targets, at, names, hours)


def config(w: World, state: Path, forecast: bool) -> dict[str, Any]:
    budget: dict[str, Any] = {
        "name": "per-key-daily",
        "provider": "sim",
        "scope": {"each": "key"},
        "window": "daily",
        "limit_usd": str(CAP),
        "warn_at": [],
        "actions": ["simulated.disable"],
    }
    if forecast:
        budget["forecast"] = FORECAST
    return {
        "state": f"sqlite:///{state}",
        "max_actions_per_cycle": 1000,
        "providers": {
            "sim": {
                "type": "simulated",
                "poll_interval": "60s",
                "start": _iso(DAY),
                "lag": LAG,
                "targets": w.targets,
            }
        },
        "budgets": [budget],
    }


async def simulate(w: World, forecast: bool) -> dict[str, Any]:
    """One day (``w.hours`` of it) through the engine; the true spend and kill time per key."""
    clock = FakeClock(DAY)
    with tempfile.TemporaryDirectory() as d:
        rt = daemon.build(
            cfgmod.parse(config(w, Path(d) / "s.db", forecast)), clock=clock, identity="bench"
        )
        end = DAY + timedelta(hours=w.hours) - POLL
        t0 = time.perf_counter()
        cycles = 0
        while clock.now < end:
            clock.advance(seconds=POLL.total_seconds())
            await rt.engine.cycle("sim")
            cycles += 1
        wall = time.perf_counter() - t0
        src: Any = rt.providers["sim"].sources()["simulated"]
        stop = DAY + timedelta(hours=w.hours)
        spend = {t["id"]: src.spent(t["id"], stop) for t in w.targets}
        kills = {
            r.target: r.created_at.replace(tzinfo=UTC) for r in rt.store.journal_rows(op="kill")
        }
        reasons = [r.reason for r in rt.store.journal_rows(op="kill")]
        await rt.aclose()
    return {
        "spend": spend,
        "kills": kills,
        "forecast_kills": sum(1 for r in reasons if r.startswith("forecast:")),
        "ms_per_cycle": 1000 * wall / max(1, cycles),
    }


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarise(w: World, run: dict[str, Any]) -> dict[str, Any]:
    over = [float(max(run["spend"][k] - CAP, Decimal(0))) for k in w.runaway_at]
    lead = [
        (run["kills"][k] - start).total_seconds() / 60
        for k, start in w.runaway_at.items()
        if k in run["kills"]
    ]
    return {
        "overshoot_median_usd": round(statistics.median(over), 3),
        "overshoot_p95_usd": round(pct(over, 0.95), 3),
        "overshoot_max_usd": round(max(over), 3),
        "stopped_at_median_usd": round(
            statistics.median(float(run["spend"][k]) for k in w.runaway_at), 2
        ),
        "runaways_killed": sum(1 for k in w.runaway_at if k in run["kills"]),
        "minutes_ramp_to_kill_median": round(statistics.median(lead), 1) if lead else None,
        "false_kills": sum(1 for k in w.steady if k in run["kills"]),
        "steady_max_spend_usd": round(
            max((float(run["spend"][k]) for k in w.steady), default=0), 2
        ),
        "forecast_kills": run["forecast_kills"],
        "ms_per_cycle": round(run["ms_per_cycle"], 1),
    }


def ratio(a: float, b: float) -> str:
    return "-" if b == 0 else f"{100 * a / b:.0f}%"


def table(r: dict[str, Any], f: dict[str, Any], n: int, s: int) -> str:
    rows = [
        ("overshoot past the cap, median", "overshoot_median_usd", "$"),
        ("overshoot past the cap, p95", "overshoot_p95_usd", "$"),
        ("overshoot past the cap, max", "overshoot_max_usd", "$"),
        ("a runaway's spend when stopped, median", "stopped_at_median_usd", "$"),
        (f"runaways killed (of {n})", "runaways_killed", ""),
        ("minutes from ramp start to kill, median", "minutes_ramp_to_kill_median", ""),
        (f"false kills (steady keys at 90% of the cap, of {s})", "false_kills", ""),
        ("engine cycle, ms", "ms_per_cycle", ""),
    ]
    out = [
        f"| $10/day per key, 60 s polls, {LAG} lag | reactive | forecast (15m, kill) | "
        "forecast / reactive |",
        "|---|---|---|---|",
    ]
    for label, key, unit in rows:
        a, b = r[key], f[key]
        rel = ratio(b, a) if key.startswith("overshoot") else ""
        out.append(f"| {label} | {unit}{a} | {unit}{b} | {rel} |")
    return "\n".join(out) + "\n"


def run(runaways: int, steadies: int, seed: int, hours: int) -> dict[str, Any]:
    w = world(runaways, steadies, seed, hours)
    reactive = summarise(w, asyncio.run(simulate(w, forecast=False)))
    forecast = summarise(w, asyncio.run(simulate(w, forecast=True)))
    med_ok = forecast["overshoot_median_usd"] <= 0.25 * reactive["overshoot_median_usd"]
    p95_ok = forecast["overshoot_p95_usd"] <= 0.25 * reactive["overshoot_p95_usd"]
    return {
        "runaways": runaways,
        "steady": steadies,
        "seed": seed,
        "hours": hours,
        "reactive": reactive,
        "forecast": forecast,
        "target_met": med_ok and p95_ok and forecast["false_kills"] == 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runaways", type=int, default=40)
    ap.add_argument("--steady", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hours", type=int, default=24, help="how much of the day to simulate")
    ap.add_argument("--smoke", action="store_true", help="6 keys, 6 hours: it still works")
    args = ap.parse_args()
    setup_logs("error", "console")  # a kill a minute is the point here, not news
    if args.smoke:
        args.runaways, args.steady, args.hours = 4, 2, 6
    out = run(args.runaways, args.steady, args.seed, args.hours)
    md = table(out["reactive"], out["forecast"], args.runaways, args.steady)
    md += f"\ntarget (forecast <= 25% of reactive, zero false kills) met: {out['target_met']}\n"
    print(md)
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    (res / "forecast.md").write_text(md)
    (res / "forecast.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
