"""Benchmarks (never timed tests): each figure next to a floor measured in the same run.

Run: `make bench` or `.venv/bin/python benchmarks/bench.py [--quick] [--smoke] [--update-readme]`.
Each row and its floor run interleaved (row, floor, row, floor, ...), median of the runs. Prints a
Markdown table, writes benchmarks/results/latest.{json,md} (gitignored), and with
--update-readme replaces the table between the README's bench markers. Numbers depend on the
machine; the README table records ours. benchmarks/bench_cycle.py supplies the whole-cycle and
kill-latency rows; benchmarks/bench_state_growth.py and benchmarks/forecast.py (overshoot,
forecast vs reactive kills) run too when present.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest

from killswitch.core.evaluate import BudgetRule, evaluate
from killswitch.core.scope import ObservationIndex, Scope
from killswitch.core.windows import WindowSpec
from killswitch.gc_tuning import tune_gc
from killswitch.metrics import BudgetSeries, Metrics, PerTarget
from killswitch.model import (
    BudgetState,
    DecisionKind,
    GroupStatus,
    Money,
    ObservationKind,
    SpendObservation,
)
from killswitch.plugins import ProviderContext
from killswitch.providers.openrouter.provider import OpenRouterConfig, OpenRouterProvider
from killswitch.state import Store
from killswitch.testing import StandIn

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)


HERE = Path(__file__).parent
README = HERE.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(
    fn: Callable[[], Any], floor: Callable[[], Any], repeat: int
) -> tuple[list[float], list[float]]:
    """Row and floor alternate, so load from other work on the machine hits both alike."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        a += timed(fn, 1)
        b += timed(floor, 1)
    return a, b


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


def evaluate_groups(n: int) -> Callable[[], Any]:
    """One budget, {each: key}, n keys: n budget groups in one evaluation (setup not timed)."""
    rule = BudgetRule(
        "b",
        Scope.parse({"each": "key"}),
        WindowSpec.parse("daily"),
        Money(Decimal(10)),
        (Decimal("0.5"), Decimal("0.8")),
    )
    obs = observations(n)
    return lambda: evaluate(rule, obs, {}, NOW)


def evaluate_groups_steady(n: int) -> Callable[[], Any]:
    """As :func:`evaluate_groups`, but as every cycle after the first sees it: the prior state is
    the last cycle's (warnings already sent, breached groups killed), so little is decided."""
    rule = BudgetRule(
        "b",
        Scope.parse({"each": "key"}),
        WindowSpec.parse("daily"),
        Money(Decimal(10)),
        (Decimal("0.5"), Decimal("0.8")),
    )
    obs = observations(n)
    first = evaluate(rule, obs, {}, NOW)
    killed = {d.group for d in first.decisions if d.kind is DecisionKind.KILL}
    prior = {
        g: replace(st, killed=True, killed_window_start=st.window_start) if g in killed else st
        for g, st in first.states.items()
    }
    return lambda: evaluate(rule, obs, prior, NOW)


def plain_loop(obs: list[SpendObservation], limit: Decimal) -> int:
    """The floor for evaluation: group by key, compare with the limit, with plain Decimals."""
    spend: dict[str, Decimal] = {}
    for o in obs:
        spend[o.dims["key"]] = o.amount.amount
    return sum(1 for v in spend.values() if v >= limit * Decimal("0.8"))


def bench_metrics(
    n: int, repeat: int, per_target: PerTarget, max_series: int = 2000
) -> tuple[list[float], list[float], int, int]:
    """/metrics at n keys, 10% past a warning threshold: scrape time and size vs a plain render."""
    window = WindowSpec.parse("daily")
    m = Metrics()
    m.init_budgets(
        [BudgetSeries("per-key-daily", "openrouter", window, Decimal(10), "USD")],
        NOW,
        per_target=per_target,
        max_series=max_series,
    )
    w = window.at(NOW)
    statuses = [
        GroupStatus(
            "per-key-daily",
            f"{i:064x}",
            w,
            Money(Decimal("8.5") if i % 10 == 0 else Decimal(i % 700) / 100),
            Money(Decimal(10)),
            BudgetState.WARNING if i % 10 == 0 else BudgetState.OK,
        )
        for i in range(n)
    ]
    m.snapshot.statuses["per-key-daily"] = statuses

    def scrape() -> None:
        generate_latest(m.registry)

    lines = [
        f'killswitch_spend_usd{{budget="per-key-daily",target="{s.group}"}} {s.spend}\n'
        for s in statuses
        if s.spend is not None
    ]

    def floor() -> None:  # a plain join of one line per key: the least any exporter does
        "".join(lines).encode()

    m.publish(NOW, ["per-key-daily"])
    publish = timed(lambda: m.publish(NOW, ["per-key-daily"]), repeat)
    ours, plain = interleaved(scrape, floor, repeat)
    body = generate_latest(m.registry)
    return ours, plain, len(body), int(statistics.median(publish) * 1000)


def evaluate_budgets(n: int) -> Callable[[], Any]:
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

    return run


def budgets_over_source(n_budgets: int, n_keys: int) -> Callable[[], Any]:
    """n_budgets budgets, each over its own slice of one n_keys-key source, routed by the index
    the engine builds once per source and cycle (setup not timed; the index build is)."""
    obs = observations(n_keys)
    per = n_keys // n_budgets
    rules = [
        BudgetRule(
            f"b{j}",
            Scope.parse({"each": "key", "keys": [f"k{i}" for i in range(j * per, (j + 1) * per)]}),
            WindowSpec.parse("daily"),
            Money(Decimal(10)),
        )
        for j in range(n_budgets)
    ]

    def run() -> None:
        index = ObservationIndex(obs)
        for rule in rules:
            evaluate(rule, index.for_scope(rule.scope), {}, NOW)

    return run


def wchar() -> int:
    """Bytes this process has handed to write(2) so far (SQLite writes in-process)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def bench_writes(n: int) -> list[tuple[str, int, int, int]]:
    """A cycle's store writes (states + statuses) on SQLite, n keys: first, unchanged, 10% changed.

    Returns (cycle, state rows, status rows, bytes written)."""
    rule = BudgetRule(
        "b", Scope.parse({"each": "key"}), WindowSpec.parse("daily"), Money(Decimal(10))
    )
    out = []
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{d}/bench.db")
        base = observations(n)
        changed = [
            replace(o, amount=Money(Decimal("8.5"))) if i % 10 == 0 else o
            for i, o in enumerate(base)
        ]
        cycles = (("first", base), ("nothing changed", base), ("10% changed", changed))
        for minute, (label, obs) in enumerate(cycles):
            at = NOW + timedelta(minutes=minute)  # a later cycle: the heartbeat row does change
            before = wchar()
            ev = evaluate(rule, obs, store.states("b"), at)
            states = store.save_states("b", ev.states, at)
            statuses = store.save_statuses(ev.statuses, at)
            out.append((label, states, statuses, wchar() - before))
        store.close()
    return out


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


def key_pages(data: list[dict[str, Any]]) -> dict[int, bytes]:
    """The OpenRouter /keys listing of ``data``, 100 keys a page, pre-encoded by offset (the last
    page is short or empty, which ends the listing)."""
    return {
        off: json.dumps({"data": data[off : off + 100]}).encode()
        for off in range(0, len(data) + 1, 100)
    }


def serve_keys(pages: dict[int, bytes]) -> StandIn:
    """A started loopback OpenRouter serving ``pages`` (read per request: callers may swap one)."""
    s = StandIn()
    s.route("GET", "/api/v1/keys")(lambda r: (200, pages[int(r.query["offset"][0])]))
    return s.start()


async def raw_fetch(base_url: str) -> None:
    """The floor for a poll: a plain httpx client fetching every page of the listing."""
    async with httpx.AsyncClient(base_url=base_url) as c:
        off = 0
        while True:
            page = (
                await c.get("/keys", params={"include_disabled": "true", "offset": off})
            ).json()["data"]
            if len(page) < 100:
                break
            off += 100


def bench_poll(n: int, repeat: int) -> tuple[list[float], list[float]]:
    s = serve_keys(key_pages(keys(n)))
    try:
        cfg = OpenRouterConfig(type="openrouter", api_key="sk-bench", base_url=f"{s.url}/api/v1")

        async def ours() -> None:
            p = OpenRouterProvider("or", cfg, ProviderContext())
            r = await p.sources()["openrouter"].poll(NOW, DAY.start)
            assert r.ok and len(r.observations) == 4 * n, r.error
            await p.aclose()

        return interleaved(
            lambda: asyncio.run(ours()), lambda: asyncio.run(raw_fetch(f"{s.url}/api/v1")), repeat
        )
    finally:
        s.stop()


def med(xs: list[float]) -> str:
    x = statistics.median(xs)
    return f"{x:.2f} s" if x >= 1 else f"{x * 1000:.1f} ms"


def run(quick: bool, smoke: bool) -> list[tuple[str, str, str]]:
    """(figure, this build, floor in the same run) rows."""
    n_eval, n_keys, rep = (100_000, 10_000, 5)
    if quick:
        n_eval, n_keys = 10_000, 1_000
    if smoke:
        n_eval, n_keys, rep = 200, 200, 1
    rows = []
    obs = observations(n_eval)
    ev, floor = interleaved(
        evaluate_groups(n_eval),
        lambda: plain_loop(obs, Decimal(10)),
        rep,
    )
    rows.append(
        (f"evaluate: 1 `{{each: key}}` budget x {n_eval:,} keys, first cycle", med(ev), med(floor))
    )
    ev, floor = interleaved(
        evaluate_groups_steady(n_eval), lambda: plain_loop(obs, Decimal(10)), rep
    )
    rows.append(
        (f"evaluate: 1 `{{each: key}}` budget x {n_eval:,} keys, steady", med(ev), med(floor))
    )
    ev, floor = interleaved(
        evaluate_budgets(n_eval),
        lambda: plain_loop(obs, Decimal(10)),
        rep,
    )
    rows.append((f"evaluate: {n_eval:,} separate budgets", med(ev), med(floor)))
    n_b = 100 if not smoke else 10
    routed, floor = interleaved(
        budgets_over_source(n_b, n_keys), lambda: plain_loop(obs[:n_keys], Decimal(10)), rep
    )
    rows.append(
        (f"evaluate: {n_b} budgets over one {n_keys:,}-key source", med(routed), med(floor))
    )
    for label, states, statuses, written in bench_writes(n_keys):
        rows.append(
            (
                f"store writes per cycle at {n_keys:,} keys (SQLite), {label}",
                f"{states:,} state + {statuses:,} status rows, {written / 1e3:,.1f} kB",
                f"before: all {n_keys:,} + {n_keys:,} rows rewritten every cycle",
            )
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak RSS of this benchmark process (evaluations above)", f"{rss:.0f} MB", "-"))
    ours, raw = bench_poll(n_keys, rep)
    rows.append(
        (
            f"OpenRouter poll of {n_keys:,} keys ({n_keys // 100} pages), wall",
            med(ours),
            f"{med(raw)} (plain httpx, same pages)",
        )
    )
    # Whole cycles and kill latency on the real engine. Imported here: bench_cycle imports this
    # module's helpers, and either file may be the script that was run.
    import bench_cycle

    rows += bench_cycle.run(n_keys, rep)
    modes: list[tuple[PerTarget, int]] = [("breaching", 2000), ("all", 2000), ("all", 10**9)]
    for mode, cap in modes:
        scrape, plain, size, publish_ms = bench_metrics(n_keys, rep, mode, cap)
        rows.append(
            (
                f"`/metrics` at {n_keys:,} keys, 10% warning, `per_target: {mode}`, "
                f"`max_series: {cap:,}`",
                f"{size / 1e6:.2f} MB, scrape {med(scrape)} (publish {publish_ms} ms)",
                f"{med(plain)} (one plain line per key joined)",
            )
        )
    return rows


def markdown(rows: list[tuple[str, str, str]]) -> str:
    out = ["| figure | this build (median) | floor, same run (median) |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out) + "\n"


def update_readme(table: str) -> None:
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table}{END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10x smaller sizes (a minute or so)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one run: it still works")
    ap.add_argument("--update-readme", action="store_true", help="write the table into README")
    ap.add_argument(
        "--growth-cycles",
        type=int,
        default=500,
        help="cycles of bench_state_growth at 10k keys (0: skip it)",
    )
    args = ap.parse_args()
    tune_gc()  # as the daemon runs its cycles (killswitch.gc_tuning)
    rows = run(args.quick, args.smoke)
    table = markdown(rows)
    print(table)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(table)
    (out / "latest.json").write_text(json.dumps(rows, indent=2))
    if args.update_readme:
        update_readme(table)
    growth = HERE / "bench_state_growth.py"
    if growth.exists() and not args.smoke and args.growth_cycles > 0:  # 0: skip the long run
        extra = ["--quick"] if args.quick else ["--cycles", str(args.growth_cycles)]
        done = subprocess.run([sys.executable, str(growth), *extra], check=False)
        if done.returncode:
            sys.exit(f"{growth.name} failed with exit code {done.returncode}")
    forecast = HERE / "forecast.py"
    if forecast.exists() and not args.smoke:  # forecast vs reactive overshoot, in simulated time
        extra = ["--runaways", "10", "--steady", "5"] if args.quick else []
        done = subprocess.run([sys.executable, str(forecast), *extra], check=False)
        if done.returncode:
            sys.exit(f"{forecast.name} failed with exit code {done.returncode}")


if __name__ == "__main__":
    main()
