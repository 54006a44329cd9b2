"""Three replicas share six providers (``ha: {shard: provider}``) on one PostgreSQL: each
provider is polled and acted on by exactly one replica; SIGKILL one, its providers move to the
survivors within a lease period; SIGSTOP another, its providers move once its leases expire and
it acts for none of them when it wakes; no kill is carried out twice. Failover times are printed
(``-s``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from sqlalchemy import create_engine, text
from tests.conftest import postgres_schema

from killswitch.shards import GLOBAL, fair_share
from killswitch.testing import DaemonProcess

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.fault]
LEASE = 3.0
N = 6
PROVIDERS = [f"sim{i}" for i in range(N)]
SHARDS = [f"provider:{p}" for p in PROVIDERS]
# USD at 1 USD/s from each provider's first poll: some kills before the SIGKILL, some after
LIMITS = [2, 4, 16, 20, 26, 32]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema(f"ks_shards_{os.getpid()}") as url:
        yield url


def cfg(pg: str, tmp: Path) -> dict[str, Any]:
    return {
        "state": pg,
        "ha": {"enabled": True, "lease_seconds": LEASE, "shard": "provider"},
        "providers": {
            p: {
                "type": "simulated",
                "poll_interval": "1s",
                "targets": [{"id": f"t{i}", "rate_usd_per_second": 1}],
                "state_file": str(tmp / f"world-{p}.json"),
            }
            for i, p in enumerate(PROVIDERS)
        },
        "budgets": [
            {
                "name": f"b{i}",
                "provider": p,
                "scope": {"keys": [f"t{i}"]},
                "window": "interval:1h",
                "limit_usd": LIMITS[i],
                "actions": ["simulated.disable"],
                "restore": "manual",
            }
            for i, p in enumerate(PROVIDERS)
        ],
    }


def alive(ds: dict[str, DaemonProcess]) -> dict[str, DaemonProcess]:
    return {n: d for n, d in ds.items() if d.proc is not None and d.proc.poll() is None}


def owners(ds: dict[str, DaemonProcess]) -> dict[str, list[str]]:
    """shard -> the live replicas whose /metrics say they hold it."""
    out: dict[str, list[str]] = {s: [] for s in [*SHARDS, GLOBAL]}
    for name, d in alive(ds).items():
        for s in out:
            if d.metric("killswitch_shard_owned", shard=s) == 1.0:
                out[s].append(name)
    return out


def settled(ds: dict[str, DaemonProcess]) -> dict[str, list[str]] | None:
    """The ownership once every shard has exactly one holder and none is over its share."""
    got = owners(ds)
    share = fair_share(len(got), len(alive(ds)))
    per = {n: sum(1 for o in got.values() if n in o) for n in alive(ds)}
    ok = all(len(o) == 1 for o in got.values()) and all(v <= share for v in per.values())
    return got if ok else None


def polls(ds: dict[str, DaemonProcess]) -> dict[tuple[str, str], float]:
    return {
        (n, p): d.metric("killswitch_poll_total", provider=p, result="success") or 0.0
        for n, d in alive(ds).items()
        for p in PROVIDERS
    }


def ready(d: DaemonProcess) -> dict[str, Any]:
    """The /readyz body (503 or not)."""
    try:
        with urlopen(f"http://127.0.0.1:{d.port}/readyz", timeout=5) as r:
            body: dict[str, Any] = json.loads(r.read())
    except HTTPError as exc:
        body = json.loads(exc.read())
    return body


def disables(tmp: Path, provider: str) -> list[dict[str, Any]]:
    world = tmp / f"world-{provider}.json"
    if not world.exists():
        return []
    calls: list[dict[str, Any]] = json.loads(world.read_text())["calls"]
    return [c for c in calls if c["op"] == "disable"]


def test_replicas_split_the_providers_and_a_dead_ones_move(pg_url: str, tmp_path: Path) -> None:
    ds = {
        n: DaemonProcess(cfg(pg_url, tmp_path), tmp_path / n, env={"KILLSWITCH_IDENTITY": n})
        for n in ("a", "b", "c")
    }
    a = ds["a"]
    try:
        for d in ds.values():
            d.start(wait_ready=False)
        first = a.wait_for(lambda: settled(ds), timeout=60)
        # every provider polled by its holder only
        before = polls(ds)
        time.sleep(3)
        after = polls(ds)
        for p in PROVIDERS:
            polled = [n for n in ds if after[(n, p)] > before[(n, p)]]
            assert polled == first[f"provider:{p}"], (p, polled, first)

        for n, d in ds.items():  # /readyz names what each replica acts for
            assert ready(d)["shards"] == sorted(s for s, o in first.items() if o == [n])
        victim = max(ds, key=lambda n: sum(1 for s in SHARDS if first[s] == [n]))
        moved = [s for s in SHARDS if first[s] == [victim]]
        assert moved
        ds[victim].kill9()
        died = time.monotonic()
        survivors = [n for n in ds if n != victim]
        then = ds[survivors[0]].wait_for(lambda: settled(ds), timeout=30, every=0.1)
        took = time.monotonic() - died
        print(f"\nshards of {victim} ({', '.join(moved)}) moved in {took:.1f}s")
        assert took < LEASE + 5
        assert all(then[s][0] in survivors for s in SHARDS)

        # a paused replica (alive, so only expiry frees its leases) loses its shards, then
        # finds on waking that it holds nothing: it acts again only for what it takes anew
        paused, other = sorted(survivors, key=lambda n: -sum(1 for s in SHARDS if then[s] == [n]))
        proc = ds[paused].proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            ds[other].wait_for(
                lambda: all(
                    ds[other].metric("killswitch_shard_owned", shard=s) == 1.0
                    for s in [*SHARDS, GLOBAL]
                ),
                timeout=30,
                every=0.1,
            )
            took = time.monotonic() - stopped
            print(f"shards of paused {paused} moved to {other} in {took:.1f}s")
            assert took < LEASE + 5
        finally:
            proc.send_signal(signal.SIGCONT)
        ds[other].wait_for(lambda: settled(ds), timeout=30)

        # every budget killed its key once, across all replicas, SIGKILL included
        a_live = ds[other]
        a_live.wait_for(lambda: all(disables(tmp_path, p) for p in PROVIDERS), timeout=60)
        time.sleep(2 * LEASE)  # time for any second kill to show
        for p in PROVIDERS:
            assert len(disables(tmp_path, p)) == 1, (p, disables(tmp_path, p))
        eng = create_engine(pg_url)
        with eng.connect() as conn:
            kills = dict(
                conn.execute(
                    text("SELECT budget, count(*) FROM journal WHERE op = 'kill' GROUP BY budget")
                ).all()
            )
        eng.dispose()
        assert kills == {f"b{i}": 1 for i in range(N)}
        for n in survivors:
            assert ds[n].stop() == 0
    finally:
        for d in ds.values():
            d.__exit__()
