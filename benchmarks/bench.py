"""Benchmarks (never timed tests): evaluation of 100k budgets, and a poll of 10k OpenRouter keys.

Run: `make bench` or `.venv/bin/python benchmarks/bench.py [--quick]`. Prints a table and writes
benchmarks/results/latest.json. Numbers depend on the machine; the README table records ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from killswitch.core.evaluate import BudgetRule, evaluate
from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.model import Money, ObservationKind, SpendObservation
from killswitch.plugins import ProviderContext
from killswitch.providers.openrouter.provider import OpenRouterConfig, OpenRouterProvider
from killswitch.testing import StandIn

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def observations(n: int) -> list[SpendObservation]:
    return [
        SpendObservation(
            "s",
            f"k{i}",
            ObservationKind.TO_DATE,
            Money(Decimal(i % 1300) / 100),
            NOW,
            DAY.start,
            DAY.end,
            {"key": f"k{i}"},
        )
        for i in range(n)
    ]


def bench_evaluate_groups(n: int, repeat: int) -> list[float]:
    """One budget, {each: key}, n keys: n budget groups in one evaluation."""
    rule = BudgetRule(
        "b",
        Scope.parse({"each": "key"}),
        WindowSpec.parse("daily"),
        Money(Decimal(10)),
        (Decimal("0.5"), Decimal("0.8")),
    )
    obs = observations(n)
    return timed(lambda: evaluate(rule, obs, {}, NOW), repeat)


def bench_evaluate_budgets(n: int, repeat: int) -> list[float]:
    """n separate budgets, each scoped to its own key ({keys: [k]}), each given its observations."""
    obs = observations(n)
    rules = [
        (
            BudgetRule(
                f"b{i}",
                Scope.parse({"keys": [f"k{i}"]}),
                WindowSpec.parse("daily"),
                Money(Decimal(10)),
            ),
            [obs[i]],
        )
        for i in range(n)
    ]

    def run() -> None:
        for rule, o in rules:
            evaluate(rule, o, {}, NOW)

    return timed(run, repeat)


def keys(n: int) -> list[dict[str, Any]]:
    return [
        {
            "hash": f"{i:064x}",
            "name": f"key-{i}",
            "disabled": False,
            "usage": 100.0 + i,
            "usage_daily": i / 100,
            "usage_weekly": i / 50,
            "usage_monthly": i / 10,
            "workspace_id": None,
        }
        for i in range(n)
    ]


def bench_poll(n: int, repeat: int) -> tuple[list[float], list[float]]:
    body_pages = {}
    data = keys(n)
    for off in range(0, n + 1, 100):
        body_pages[off] = json.dumps({"data": data[off : off + 100]}).encode()
    s = StandIn()
    s.route("GET", "/api/v1/keys")(lambda r: (200, body_pages[int(r.query["offset"][0])]))
    s.start()
    try:
        cfg = OpenRouterConfig(type="openrouter", api_key="sk-bench", base_url=f"{s.url}/api/v1")

        async def ours() -> None:
            p = OpenRouterProvider("or", cfg, ProviderContext())
            r = await p.sources()["openrouter"].poll(NOW, DAY.start)
            assert r.ok and len(r.observations) == 4 * n, r.error
            await p.aclose()

        async def raw() -> None:
            async with httpx.AsyncClient(base_url=f"{s.url}/api/v1") as c:
                off = 0
                while True:
                    page = (
                        await c.get("/keys", params={"include_disabled": "true", "offset": off})
                    ).json()["data"]
                    if len(page) < 100:
                        break
                    off += 100

        return (
            timed(lambda: asyncio.run(ours()), repeat),
            timed(lambda: asyncio.run(raw()), repeat),
        )
    finally:
        s.stop()


def summary(xs: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(xs), 4),
        "min_s": round(min(xs), 4),
        "runs": len(xs),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    args = ap.parse_args()
    n_eval, n_keys, rep = (10_000, 1_000, 2) if args.quick else (100_000, 10_000, 5)
    results = {
        f"evaluate: 1 budget x {n_eval} groups": summary(bench_evaluate_groups(n_eval, rep)),
        f"evaluate: {n_eval} budgets": summary(bench_evaluate_budgets(n_eval, rep)),
    }
    ours, raw = bench_poll(n_keys, rep)
    results[f"openrouter poll: {n_keys} keys (killswitch source)"] = summary(ours)
    results[f"openrouter poll: {n_keys} keys (raw httpx, same pages)"] = summary(raw)
    width = max(map(len, results))
    for name, r in results.items():
        print(
            f"{name:{width}}  median {r['median_s']:.3f}s  min {r['min_s']:.3f}s  "
            f"({r['runs']} runs)"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
