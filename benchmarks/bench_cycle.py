"""One whole daemon cycle at n keys, against a loopback OpenRouter, next to its floor.

The real engine (``daemon.build`` on a FakeClock, as bench_state_growth drives it) polls a
stand-in serving n keys in pages of 100, records, evaluates one ``{each: key}`` daily budget in
enforce mode with ``openrouter.disable-key``, acts and publishes. Figures:

- CPU of one cycle (the five phases summed, bench_state_growth's ``_split_cpu``) when nothing
  changed and when every tenth key's usage rose; floor: the CPU of a plain httpx client fetching
  the same pages plus bench.py's ``plain_loop`` over n observations. The stand-in serves from a
  thread of this process, so both sides include its CPU alike.
- detection -> disable request latency: to the ``PATCH /keys/{hash}`` arriving, from the stand-in
  sending the poll's last page (the poll that reads the key is complete: what the engine adds)
  and from it sending the page that shows the key over its limit (the rest of the poll too);
  floor: a plain client that fetches the same pages and then PATCHes the same keys.

Called by ``benchmarks/bench.py`` (its table); not a test, nothing is asserted about speed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from bench import key_pages, keys, observations, plain_loop, raw_fetch
from bench_state_growth import _split_cpu

from killswitch import config as cfgmod
from killswitch import daemon, logs
from killswitch.testing import FakeClock, StandIn

START = datetime(2026, 11, 23, 9, tzinfo=UTC)  # cycles a minute apart stay inside one day
LIMIT_USD = 1000  # above every key's usage_daily (i / 100): nothing is over until a run says so


def _config(state: Path, base_url: str) -> dict[str, Any]:
    return {
        "state": f"sqlite:///{state}",
        "providers": {
            "openrouter": {
                "type": "openrouter",
                "api_key": "sk-bench",
                "base_url": base_url,
                "poll_interval": "60s",
            }
        },
        "budgets": [
            {
                "name": "per-key-daily",
                "provider": "openrouter",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": LIMIT_USD,
                "mode": "enforce",
                "actions": ["openrouter.disable-key"],
            }
        ],
    }


class Fleet:
    """n keys served by a stand-in that answers the listing, GET /keys/{hash} and the PATCH that
    disables a key, and notes when each page was sent and each PATCH arrived (perf_counter)."""

    def __init__(self, n: int) -> None:
        self.data = keys(n)
        self.index = {k["hash"]: i for i, k in enumerate(self.data)}
        self.pages = key_pages(self.data)
        self.page_sent: dict[int, float] = {}
        self.patched: dict[str, float] = {}
        self.stand = StandIn()
        self.stand.route("GET", "/api/v1/keys")(self._page)
        self.stand.route("GET", "/api/v1/keys/[0-9a-f]+")(self._key)
        self.stand.route("PATCH", "/api/v1/keys/[0-9a-f]+")(self._patch)
        self.stand.start()
        self.url = f"{self.stand.url}/api/v1"

    def _page(self, r: Any) -> tuple[int, bytes]:
        off = int(r.query["offset"][0])
        self.page_sent[off] = time.perf_counter()
        return 200, self.pages[off]

    def _key(self, r: Any) -> tuple[int, Any]:
        return 200, {"data": self.data[self.index[r.path.rsplit("/", 1)[1]]]}

    def _patch(self, r: Any) -> tuple[int, Any]:
        h = r.path.rsplit("/", 1)[1]
        self.patched.setdefault(h, time.perf_counter())
        key = self.data[self.index[h]]
        key["disabled"] = bool(r.json().get("disabled"))
        self._rebuild(self.index[h] // 100 * 100)
        return 200, {"data": key}

    def _rebuild(self, off: int) -> None:
        self.pages[off] = json.dumps({"data": self.data[off : off + 100]}).encode()

    def spend(self, indices: list[int], usd: float) -> None:
        """Raise these keys' usage (every field, as a real spend would) and re-encode their pages."""
        for i in indices:
            k = self.data[i]
            for f in ("usage", "usage_daily", "usage_weekly", "usage_monthly"):
                k[f] = round(k[f] + usd, 6)
        for off in {i // 100 * 100 for i in indices}:
            self._rebuild(off)

    def stop(self) -> None:
        self.stand.stop()


async def _cycle_cpu(n: int, repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    """CPU of one cycle, nothing changed and 10% changed, each interleaved with its floor."""
    fleet = Fleet(n)
    clock = FakeClock(START)
    obs = observations(n)
    out: dict[str, tuple[list[float], list[float]]] = {"same": ([], []), "tenth": ([], [])}
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = cfgmod.parse(_config(Path(d) / "state.db", fleet.url))
            rt = daemon.build(cfg, clock=clock, identity="bench")
            split = _split_cpu(rt.engine)

            async def cycle() -> float:
                clock.advance(seconds=60)
                split.clear()
                await rt.engine.cycle("openrouter")
                return sum(split.values())

            async def floor() -> float:
                t = time.process_time()
                await raw_fetch(fleet.url)
                plain_loop(obs, Decimal(LIMIT_USD))  # one observation per key (the engine: 4)
                return time.process_time() - t

            await cycle()  # the first cycle writes every row: not what either figure is about
            await cycle()
            for _ in range(repeat):
                for label in ("same", "tenth"):
                    if label == "tenth":
                        fleet.spend(list(range(0, n, 10)), 0.01)
                    out[label][0].append(await cycle())
                    out[label][1].append(await floor())
            await rt.aclose()
    finally:
        fleet.stop()
    return out


def _breach(fleet: Fleet, run: int, per_run: int) -> list[str]:
    """Push ``per_run`` not yet disabled keys, spread over the pages, past the limit."""
    n = len(fleet.data)
    step = max(1, n // per_run)
    picked = [(j * step + run * 7 + 1) % n for j in range(per_run)]
    fleet.spend(picked, LIMIT_USD)
    return [fleet.data[i]["hash"] for i in picked]


def _latencies(fleet: Fleet, hashes: list[str]) -> tuple[list[float], list[float]]:
    """Per key: PATCH arrival minus the sending of the page that listed it over the limit, and
    minus the sending of the poll's last page (the poll that read the key is then complete)."""
    last = max(fleet.page_sent.values())
    arrived = [fleet.patched[h] for h in hashes]
    pages = [fleet.page_sent[fleet.index[h] // 100 * 100] for h in hashes]
    return [a - p for a, p in zip(arrived, pages, strict=True)], [a - last for a in arrived]


async def _raw_disable(fleet: Fleet, hashes: list[str]) -> None:
    """The floor: fetch the same pages with a plain client, then PATCH the same keys."""
    async with httpx.AsyncClient(base_url=fleet.url) as c:  # made before the first page is sent
        await raw_fetch(fleet.url)
        for h in hashes:
            (await c.patch(f"/keys/{h}", json={"disabled": True})).raise_for_status()


Latencies = dict[str, list[float]]


async def _kill_latency(n: int, repeat: int, per_run: int) -> tuple[Latencies, Latencies]:
    """Detection -> disable request, each run ``per_run`` keys over the limit; the engine's runs
    interleaved with the plain client's on another set of keys. Each side: ``page`` (from the
    page that lists the key) and ``poll`` (from the poll's last page) latencies."""
    fleet = Fleet(n)
    clock = FakeClock(START)
    ours: Latencies = {"page": [], "poll": []}
    plain: Latencies = {"page": [], "poll": []}
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = cfgmod.parse(_config(Path(d) / "state.db", fleet.url))
            rt = daemon.build(cfg, clock=clock, identity="bench")
            await rt.engine.cycle("openrouter")  # the first cycle: every row written
            for run in range(repeat):
                clock.advance(seconds=60)
                hashes = _breach(fleet, 2 * run, per_run)
                await rt.engine.cycle("openrouter")
                _add(ours, _latencies(fleet, hashes))
                hashes = _breach(fleet, 2 * run + 1, per_run)
                await _raw_disable(fleet, hashes)
                _add(plain, _latencies(fleet, hashes))
            await rt.aclose()
    finally:
        fleet.stop()
    return ours, plain


def _add(into: Latencies, run: tuple[list[float], list[float]]) -> None:
    into["page"] += run[0]
    into["poll"] += run[1]


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[-1] if len(xs) > 1 else xs[0]


def run(n: int, repeat: int) -> list[tuple[str, str, str]]:
    """bench.py's rows: (figure, this build, floor in the same run)."""
    logs.setup("error")  # the kills of the latency runs would print a warning each

    def cpu(xs: list[float]) -> str:
        return f"{statistics.median(xs):.2f} s CPU"

    cyc = asyncio.run(_cycle_cpu(n, repeat))
    floor = "plain httpx, same pages, + `plain_loop`"
    rows = [
        (
            f"one {n:,}-key cycle (poll + record + evaluate + act + publish), nothing changed",
            cpu(cyc["same"][0]),
            f"{cpu(cyc['same'][1])} ({floor})",
        ),
        (
            f"one {n:,}-key cycle, 10% of keys changed",
            cpu(cyc["tenth"][0]),
            f"{cpu(cyc['tenth'][1])} ({floor})",
        ),
    ]
    ours, plain = asyncio.run(_kill_latency(n, repeat, per_run=4))

    def ms(xs: list[float]) -> str:
        return f"{p95(xs) * 1000:.0f} ms (p50 {statistics.median(xs) * 1000:.0f} ms)"

    kills = len(ours["page"])
    for since, what in (("poll", "the poll's last page"), ("page", "the page listing the key")):
        rows.append(
            (
                f"detection -> disable request at {n:,} keys, from {what}, p95 ({kills} kills), "
                "wall",
                ms(ours[since]),
                f"{ms(plain[since])} (plain httpx: same pages, then PATCH)",
            )
        )
    return rows


if __name__ == "__main__":
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    for row in run(size, 5):
        print(" | ".join(row))
