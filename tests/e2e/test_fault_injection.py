"""Fault injection with real daemons: two replicas on PostgreSQL, an OpenRouter-shaped stand-in
counting disable calls. Paused leader, simultaneous first start, SIGKILL during an action: never
two disables of one key, never two kill rows for it. Failover times are printed (``-s``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from sqlalchemy import create_engine, text
from tests.conftest import postgres_schema

from killswitch.testing import DaemonProcess, Request, StandIn

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.fault]
KEY = "sk-or-v1-fault-injection-key"
VICTIM = f"{1:064x}"
LEASE = 2.0


def or_key(i: int, usage: float) -> dict[str, Any]:
    return {
        "hash": f"{i:064x}",
        "name": f"k{i}",
        "label": f"k{i}",
        "disabled": False,
        "limit": None,
        "usage": usage,
        "usage_daily": usage,
        "usage_weekly": usage,
        "usage_monthly": usage,
        "created_at": "2026-11-01T00:00:00Z",
    }


class FakeOpenRouter:
    def __init__(self) -> None:
        self.keys = {k["hash"]: k for k in (or_key(i, 1.0) for i in range(1, 4))}
        self.disables: list[str] = []  # applied PATCH {"disabled": true}
        self.patches = 0  # every PATCH received, applied or not
        self.hang = threading.Event()
        self.hang_applied = threading.Event()  # apply the PATCH, then hang before answering
        self.release = threading.Event()
        self.hung = threading.Event()
        self.server = StandIn()
        self.server.route("GET", "/api/v1/keys")(
            lambda r: (200, {"data": list(self.keys.values())})
        )
        self.server.route("GET", "/api/v1/keys/[0-9a-f]+")(
            lambda r: (200, {"data": self.keys[r.path.rsplit("/", 1)[1]]})
        )
        self.server.route("PATCH", "/api/v1/keys/[0-9a-f]+")(self.patch)

    def patch(self, r: Request) -> tuple[int, Any]:
        h = r.path.rsplit("/", 1)[1]
        self.patches += 1
        if self.hang_applied.is_set():
            self.hang_applied.clear()
            self.disables.append(h)
            self.keys[h].update(r.json())
            self.hung.set()
            self.release.wait(20)
            return 200, {"data": self.keys[h]}  # too late: the caller is gone
        if self.hang.is_set():
            self.hang.clear()
            self.hung.set()
            self.release.wait(20)
            return 503, {"error": {"code": 503, "message": "unavailable"}}  # never applied
        body = r.json()
        if body.get("disabled") is True:
            self.disables.append(h)
        self.keys[h].update(body)
        return 200, {"data": self.keys[h]}


@pytest.fixture
def fake() -> Iterator[FakeOpenRouter]:
    f = FakeOpenRouter()
    f.server.start()
    yield f
    f.release.set()
    f.server.stop()


@pytest.fixture
def pg() -> Iterator[str]:
    with postgres_schema(f"ks_fault_{os.getpid()}_{time.monotonic_ns() % 10**6}") as url:
        yield url


def cfg(pg: str, fake: FakeOpenRouter) -> dict[str, Any]:
    return {
        "state": pg,
        "ha": {"enabled": True, "lease_seconds": LEASE},
        "providers": {
            "openrouter": {
                "type": "openrouter",
                "api_key": KEY,
                "base_url": f"{fake.server.url}/api/v1",
                "poll_interval": "1s",
            }
        },
        "budgets": [
            {
                "name": "daily",
                "provider": "openrouter",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 10,
                "actions": ["openrouter.disable-key"],
                "restore": "manual",
            }
        ],
    }


def replicas(pg: str, fake: FakeOpenRouter, tmp: Path) -> tuple[DaemonProcess, DaemonProcess]:
    a = DaemonProcess({**cfg(pg, fake), "ha": {**cfg(pg, fake)["ha"], "identity": "a"}}, tmp / "a")
    b = DaemonProcess({**cfg(pg, fake), "ha": {**cfg(pg, fake)["ha"], "identity": "b"}}, tmp / "b")
    return a, b


def leader_of(*ds: DaemonProcess) -> list[DaemonProcess]:
    out = []
    for d in ds:
        if d.proc is None or d.proc.poll() is not None:
            continue
        try:
            if d.metric("killswitch_leader", identity=d.config["ha"]["identity"]) == 1.0:
                out.append(d)
        except OSError:
            continue
    return out


def kill_notes(pg: str, target: str) -> list[tuple[str, str | None]]:
    eng = create_engine(pg)
    with eng.connect() as c:
        rows = c.execute(
            text("SELECT status, error FROM journal WHERE op = 'kill' AND target = :t"),
            {"t": target},
        ).all()
    eng.dispose()
    return [(r[0], r[1]) for r in rows]


def kill_rows(pg: str, target: str) -> list[tuple[str, str]]:
    eng = create_engine(pg)
    with eng.connect() as c:
        rows = c.execute(
            text("SELECT status, actor FROM journal WHERE op = 'kill' AND target = :t"),
            {"t": target},
        ).all()
    eng.dispose()
    return [(r[0], r[1]) for r in rows]


def wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError(what)


def test_paused_leader_never_acts_after_losing_the_lease(
    pg: str, fake: FakeOpenRouter, tmp_path: Path
) -> None:
    a, b = replicas(pg, fake, tmp_path)
    with a, b:
        a.start(wait_ready=False)
        b.start(wait_ready=False)
        (leader,) = a.wait_for(lambda: leader_of(a, b) if len(leader_of(a, b)) == 1 else None)
        standby = b if leader is a else a
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        fake.keys[VICTIM]["usage_daily"] = 25.0  # breach while the leader is frozen
        wait(lambda: leader_of(standby), 15, "standby never took over")
        failover = time.monotonic() - t_stop
        wait(lambda: fake.disables, 15, "the new leader never disabled the key")
        to_kill = time.monotonic() - t_stop
        leader.proc.send_signal(signal.SIGCONT)
        time.sleep(3 * LEASE)  # the old leader wakes with a stale cycle in hand
        assert leader_of(a, b) == [standby]
        print(
            f"\nSIGSTOP failover: lease to standby {failover:.2f}s, key disabled {to_kill:.2f}s "
            f"after the freeze (lease_seconds={LEASE})"
        )
    assert fake.disables == [VICTIM]
    assert [s for s, _ in kill_rows(pg, VICTIM)] == ["done"]


def test_simultaneous_first_start_on_an_empty_database(
    pg: str, fake: FakeOpenRouter, tmp_path: Path
) -> None:
    a, b = replicas(pg, fake, tmp_path)
    with a, b:
        a.start(wait_ready=False)
        b.start(wait_ready=False)
        a.wait_for(lambda: len(leader_of(a, b)) == 1)
        time.sleep(1)
        assert a.proc is not None and a.proc.poll() is None, a.logs()[-3000:]
        assert b.proc is not None and b.proc.poll() is None, b.logs()[-3000:]
        assert len(leader_of(a, b)) == 1
        assert "Traceback" not in a.logs() + b.logs()


def test_sigkill_during_the_disable_then_failover_disables_once(
    pg: str, fake: FakeOpenRouter, tmp_path: Path
) -> None:
    a, b = replicas(pg, fake, tmp_path)
    with a, b:
        a.start(wait_ready=False)
        b.start(wait_ready=False)
        (leader,) = a.wait_for(lambda: leader_of(a, b) if len(leader_of(a, b)) == 1 else None)
        standby = b if leader is a else a
        fake.hang.set()
        fake.keys[VICTIM]["usage_daily"] = 25.0
        assert fake.hung.wait(15), leader.logs()[-3000:]
        leader.kill9()  # the PATCH is in flight, the journal row pending
        t_kill = time.monotonic()
        fake.release.set()
        wait(lambda: fake.disables, 15, "the standby never replayed the kill")
        print(
            f"\nSIGKILL mid-action: key disabled by the standby {time.monotonic() - t_kill:.2f}s "
            "after the kill"
        )
        time.sleep(2)
        assert leader_of(standby) == [standby]
    assert fake.disables == [VICTIM]
    rows = kill_rows(pg, VICTIM)
    assert [s for s, _ in rows] == ["done"], rows


def test_sigkill_after_the_disable_landed_the_replay_reads_and_does_not_patch_again(
    pg: str, fake: FakeOpenRouter, tmp_path: Path
) -> None:
    a, b = replicas(pg, fake, tmp_path)
    with a, b:
        a.start(wait_ready=False)
        b.start(wait_ready=False)
        (leader,) = a.wait_for(lambda: leader_of(a, b) if len(leader_of(a, b)) == 1 else None)
        standby = b if leader is a else a
        fake.hang_applied.set()
        fake.keys[VICTIM]["usage_daily"] = 25.0
        assert fake.hung.wait(15), leader.logs()[-3000:]
        leader.kill9()  # the key is disabled, the journal row still pending
        t_kill = time.monotonic()
        fake.release.set()
        wait(
            lambda: kill_notes(pg, VICTIM) == [("done", "replayed: already applied")],
            15,
            f"the standby never settled the kill: {kill_notes(pg, VICTIM)}",
        )
        print(
            f"\nSIGKILL after the disable landed: settled by the standby "
            f"{time.monotonic() - t_kill:.2f}s after the kill, without a second PATCH"
        )
        time.sleep(2)
        assert leader_of(standby) == [standby]
        assert (
            standby.metric(
                "killswitch_actions_total",
                action="openrouter.disable-key",
                result="already_applied",
            )
            == 1.0
        )
    assert fake.disables == [VICTIM]
    assert fake.patches == 1  # read, not written again
    assert [s for s, _ in kill_rows(pg, VICTIM)] == ["done"]


def probe(d: DaemonProcess, path: str) -> tuple[int, dict[str, Any], float]:
    """Status, JSON body and response time of a health endpoint (any status)."""
    t0 = time.monotonic()
    try:
        with urlopen(f"http://127.0.0.1:{d.port}{path}", timeout=2) as r:
            code, body = int(r.status), r.read()
    except HTTPError as exc:
        code, body = exc.code, exc.read()
    return code, json.loads(body), time.monotonic() - t0


def cycle_failures(d: DaemonProcess) -> list[str]:
    """The error of every "state database error" log line of ``d`` (one line, no traceback)."""
    out = []
    for line in d.logs().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "state database error; cycle skipped":
            assert "exception" not in entry, entry  # a timeout is not a bug: no traceback
            out.append(str(entry.get("error", "")))
    return out


def test_a_row_lock_on_the_lease_makes_the_leader_stand_down_fast_and_recover(
    pg: str, fake: FakeOpenRouter, tmp_path: Path
) -> None:
    """Another session holds the lease row FOR UPDATE in an open transaction (a frozen peer, a
    stray psql): lock timeouts fail the renewal fast, the replica stops acting and says so
    (gauge, /readyz, log) while its loop keeps running; once the lock goes it takes over again
    and carries out the breach that arrived meanwhile, once."""
    ha = {"enabled": True, "lease_seconds": LEASE, "identity": "a"}
    d = DaemonProcess({**cfg(pg, fake), "ha": ha, "outbox_interval": 0.5}, tmp_path / "a")
    leading = lambda: d.metric("killswitch_leader", identity="a")  # noqa: E731
    with d:
        d.start(wait_ready=True)
        assert leading() == 1.0
        eng = create_engine(pg)
        holder = eng.connect()
        tx = holder.begin()
        holder.execute(text("SELECT * FROM lease FOR UPDATE")).all()
        t_lock = time.monotonic()
        try:
            fake.keys[VICTIM]["usage_daily"] = 25.0  # a breach while the lease row is locked
            wait(lambda: leading() == 0.0, 4 * LEASE, "kept acting without a renewable lease")
            stood_down = time.monotonic() - t_lock
            wait(lambda: probe(d, "/readyz")[0] == 503, 2 * LEASE, "/readyz stayed ok")
            _, ready, _ = probe(d, "/readyz")
            assert ready["role"] == "standby", ready
            assert "timeout" in ready["lease"], ready  # lock or statement timeout: either is fast
            deadline = time.monotonic() + 3 * LEASE
            while time.monotonic() < deadline:  # the loop runs on: no statement waits for long
                code, live, took = probe(d, "/healthz")
                assert code == 200 and took < 1.0, (code, took)
                assert live["loop_heartbeat_age_s"] < 2.0, live
                time.sleep(0.2)
            assert fake.disables == [], "acted without a verified lease"
            assert "lease renewal failed" in d.logs()
            # A cycle that reached the lease row before the stand-down (the breach's intent is
            # fenced there) failed on its lock timeout: fast, counted and logged, never stuck.
            failed = cycle_failures(d)
            assert all("lock timeout" in f for f in failed), failed
            hit = d.metric("killswitch_state_errors_total") or 0.0
            assert hit == len(failed)
            assert (d.metric("killswitch_cycle_errors_total") or 0.0) == 0.0
        finally:
            tx.rollback()
            holder.close()
            eng.dispose()
        t_release = time.monotonic()
        wait(lambda: fake.disables, 5 * LEASE, f"no recovery after the lock:\n{d.logs()[-3000:]}")
        recovered = time.monotonic() - t_release
        wait(lambda: probe(d, "/readyz")[0] == 200, 3 * LEASE, "/readyz never recovered")
        assert leading() == 1.0
        wait(
            lambda: [s for s, _ in kill_rows(pg, VICTIM)] == ["done"],
            3 * LEASE,
            f"kill not journaled done: {kill_rows(pg, VICTIM)}\n{d.logs()[-6000:]}",
        )
        print(
            f"\nlease row locked: stood down {stood_down:.2f}s after the lock ({len(failed)} "
            f"cycle(s) failed on the lock timeout meanwhile); key disabled {recovered:.2f}s after "
            f"its release (lease_seconds={LEASE})"
        )
    assert fake.disables == [VICTIM]
    assert [s for s, _ in kill_rows(pg, VICTIM)] == ["done"]
