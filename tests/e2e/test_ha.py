"""Two replicas on one PostgreSQL: exactly one holds the lease and acts; the other takes over."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import postgres_schema

from killswitch.testing import DaemonProcess, simulated_config

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema(f"ks_ha_{os.getpid()}") as url:
        yield url


def cfg(pg: str, world: Path) -> dict[str, Any]:
    return {
        "state": pg,
        "ha": {"enabled": True, "lease_seconds": 3},
        **simulated_config(state_file=str(world), limit_usd=4, budget={"restore": "manual"}),
    }


def test_exactly_one_replica_acts_and_the_other_takes_over(pg_url: str, tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    a = DaemonProcess(cfg(pg_url, world), tmp_path / "a", env={"KILLSWITCH_IDENTITY": "a"})
    b = DaemonProcess(cfg(pg_url, world), tmp_path / "b", env={"KILLSWITCH_IDENTITY": "b"})
    with a, b:
        a.start(wait_ready=False)
        b.start(wait_ready=False)

        def leaders() -> list[str]:
            out = []
            for d, ident in ((a, "a"), (b, "b")):
                if (
                    d.proc
                    and d.proc.poll() is None
                    and d.metric("killswitch_leader", identity=ident) == 1.0
                ):
                    out.append(ident)
            return out

        first = a.wait_for(lambda: leaders() or None)
        assert len(first) == 1
        a.wait_for(
            lambda: json.loads(world.read_text())["calls"] if world.exists() else None, timeout=20
        )
        for _ in range(10):
            assert len(leaders()) <= 1
        leader, standby = (a, b) if first == ["a"] else (b, a)
        leader.kill9()
        other = "b" if first == ["a"] else "a"
        standby.wait_for(lambda: leaders() == [other], timeout=20)
        standby.stop()
    calls = json.loads(world.read_text())["calls"]
    assert [c["op"] for c in calls] == ["disable"]  # one kill in total, across both replicas
