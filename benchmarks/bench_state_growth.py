"""State growth: database size and RSS over many cycles must stay flat after warm-up.

Drives the real Engine in-process on a virtual clock (one cycle per poll interval) with the
simulated provider: N keys, each spending, under daily, weekly and monthly per-key budgets.
Prints the database size (file + WAL) and RSS at checkpoints, and the change between the end of
warm-up and the end of the run (the issue's bar: within +-5%).

Run: `.venv/bin/python benchmarks/bench_state_growth.py [--keys 10000] [--cycles 500] [--quick]`.
The function `run(keys, cycles)` returns the figures, for `benchmarks/bench.py` to call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.testing import FakeClock


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _db_mb(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(p.stat().st_size for p in files if p.exists()) / 2**20


def _config(state: Path, keys: int, start: datetime) -> dict[str, Any]:
    budget = {
        "provider": "sim",
        "scope": {"each": "key"},
        "limit_usd": 10**9,  # never breached: this measures state, not actions
        "mode": "alert-only",
    }
    return {
        "state": f"sqlite:///{state}",
        "providers": {
            "sim": {
                "type": "simulated",
                "poll_interval": "60s",
                "start": start.isoformat(),
                "targets": [{"id": f"k{i}", "rate_usd_per_second": "0.001"} for i in range(keys)],
            }
        },
        "budgets": [
            {**budget, "name": f"per-key-{w}", "window": w} for w in ("daily", "weekly", "monthly")
        ],
    }


async def _drive(keys: int, cycles: int, warmup: int, every: int) -> dict[str, Any]:
    now = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # crosses midnight: a daily rollover
    clock = FakeClock(now)
    with tempfile.TemporaryDirectory() as d:
        state = Path(d) / "state.db"
        rt = daemon.build(
            cfgmod.parse(_config(state, keys, now - timedelta(hours=1))),
            clock=clock,
            identity="bench",
        )
        points: list[dict[str, float]] = []
        split = _split_cpu(rt.engine)
        t0 = time.perf_counter()
        for c in range(1, cycles + 1):
            if c == warmup + 1:
                split.clear()  # the CPU split counts cycles after the warm-up only
            await rt.engine.cycle("sim")
            clock.advance(seconds=60)
            if c % every == 0 or c in (warmup, cycles):
                points.append(
                    {
                        "cycle": c,
                        "db_mb": round(_db_mb(state), 2),
                        "rss_mb": round(_rss_mb(), 1),
                        "ledger": rt.engine.ledger.size(),
                        "s_per_cycle": round((time.perf_counter() - t0) / c, 3),
                    }
                )
        await rt.aclose()
    at = {p["cycle"]: p for p in points}
    w, e = at[warmup], at[cycles]
    return {
        "keys": keys,
        "cycles": cycles,
        "warmup": warmup,
        "points": points,
        "db_change_pct": round(100 * (e["db_mb"] - w["db_mb"]) / w["db_mb"], 1),
        "rss_change_pct": round(100 * (e["rss_mb"] - w["rss_mb"]) / w["rss_mb"], 1),
        "cpu_s_per_cycle": {
            k: round(v / max(1, cycles - warmup), 3) for k, v in sorted(split.items())
        },
    }


def _split_cpu(engine: Any) -> dict[str, float]:
    """Wrap the cycle's phases to sum their process CPU time (the cycle runs them in order)."""
    split: dict[str, float] = {}
    for name in ("poll", "record", "evaluate", "act", "publish"):
        fn = getattr(engine, name)
        if asyncio.iscoroutinefunction(fn):

            async def timed_async(*a: Any, _fn: Any = fn, _n: str = name, **k: Any) -> Any:
                t = time.process_time()
                try:
                    return await _fn(*a, **k)
                finally:
                    split[_n] = split.get(_n, 0.0) + time.process_time() - t

            setattr(engine, name, timed_async)
        else:

            def timed_sync(*a: Any, _fn: Any = fn, _n: str = name, **k: Any) -> Any:
                t = time.process_time()
                try:
                    return _fn(*a, **k)
                finally:
                    split[_n] = split.get(_n, 0.0) + time.process_time() - t

            setattr(engine, name, timed_sync)
    return split


def run(keys: int = 10_000, cycles: int = 500, warmup: int | None = None) -> dict[str, Any]:
    warm = warmup if warmup is not None else max(1, cycles // 5)
    return asyncio.run(_drive(keys, cycles, warm, max(1, cycles // 10)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--cycles", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="1000 keys, 60 cycles")
    args = ap.parse_args()
    if args.quick:
        args.keys, args.cycles = 1000, 60
    out = run(args.keys, args.cycles, args.warmup)
    print(f"{'cycle':>6} {'db MB':>8} {'RSS MB':>8} {'ledger':>8} {'s/cycle':>8}")
    for p in out["points"]:
        print(
            f"{p['cycle']:>6} {p['db_mb']:>8} {p['rss_mb']:>8} {p['ledger']:>8} {p['s_per_cycle']:>8}"
        )
    print(
        f"after warm-up (cycle {out['warmup']}) to cycle {out['cycles']}: database "
        f"{out['db_change_pct']:+}%, RSS {out['rss_change_pct']:+}%"
    )
    print(f"CPU per cycle after warm-up, by phase: {out['cpu_s_per_cycle']}")
    print(json.dumps({k: v for k, v in out.items() if k != "points"}))


if __name__ == "__main__":
    main()
