"""Fencing: epochs, the intent transaction's lease check, and the database's one-open-kill rule."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text

from killswitch.leadership import Leadership
from killswitch.state import Store
from killswitch.state.lease import Claimant, Grant, Holder, LeaseLost, verify
from killswitch.state.store import DbTimeouts, DuplicateKill

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
TTL = timedelta(seconds=0.6)


def kill_row(target: str = "t", status: str = "pending", **kw: Any) -> dict[str, Any]:
    return {
        "budget": "b",
        "grp": "g",
        "target": target,
        "action": "a.disable",
        "op": "kill",
        "status": status,
        "params": {},
        "window_start": NOW,
        "actor": "r1",
        **kw,
    }


def add(s: Store, *rows: dict[str, Any]) -> list[int]:
    with s.tx() as conn:
        return s.journal_add(conn, list(rows), NOW)


def test_epoch_increases_on_every_takeover_and_not_on_renewal(store_url: str) -> None:
    s = Store(store_url)
    a, b = Claimant("a", "ta", host="ha"), Claimant("b", "tb", host="hb")
    g1 = s.lease_acquire("L", a, TTL)
    assert isinstance(g1, Grant) and g1.epoch == 1 and g1.taken_over
    g2 = s.lease_acquire("L", a, TTL)
    assert isinstance(g2, Grant) and (g2.epoch, g2.taken_over) == (1, False)
    time.sleep(0.7)
    g3 = s.lease_acquire("L", b, TTL)
    assert isinstance(g3, Grant) and (g3.epoch, g3.taken_over) == (2, True)
    time.sleep(0.7)
    g4 = s.lease_acquire("L", a, TTL)  # back to a: still a takeover, a new epoch
    assert isinstance(g4, Grant) and g4.epoch == 3


def test_an_old_epoch_cannot_pass_the_intent_check(store_url: str) -> None:
    s = Store(store_url)
    a, b = Claimant("a", "ta", host="ha"), Claimant("b", "tb", host="hb")
    assert isinstance(s.lease_acquire("L", a, TTL), Grant)
    with s.tx() as conn:
        verify(conn, "L", "ta", 1, timedelta(seconds=0.1))  # ours, with time left
    time.sleep(0.7)
    assert isinstance(s.lease_acquire("L", b, TTL), Grant)
    with pytest.raises(LeaseLost, match="no longer ours"), s.tx() as conn:
        verify(conn, "L", "ta", 1, timedelta(seconds=0.1))
    with pytest.raises(LeaseLost, match="margin"), s.tx() as conn:
        verify(conn, "L", "tb", 2, timedelta(seconds=5))  # ours, but too little left


def test_a_crashed_predecessor_on_this_host_is_taken_over_at_once(store_url: str) -> None:
    s = Store(store_url)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = Claimant("old", "t-old", pid=int(gone.stdout))  # this host, a pid that has exited
    assert isinstance(s.lease_acquire("L", dead, timedelta(seconds=60)), Grant)
    got = s.lease_acquire("L", Claimant("new", "t-new"), timedelta(seconds=60))
    assert isinstance(got, Grant) and got.epoch == 2
    live = s.lease_acquire("L", Claimant("other", "t-3", pid=os.getppid()), TTL)
    assert isinstance(live, Holder) and live.identity == "new"  # we are alive: refused


class RefusingFence:
    def verify_in(self, conn: Connection) -> None:
        raise LeaseLost("not ours")

    def ensure(self) -> None:
        raise LeaseLost("not ours")


def test_no_intent_is_journaled_without_the_lease(store_url: str) -> None:
    s = Store(store_url)
    s.fence = RefusingFence()
    with pytest.raises(LeaseLost):
        add(s, kill_row())
    assert s.journal_rows() == [] and s.open_kill_rows() == []
    add(s, kill_row(status="dry_run"))  # nothing will be executed: no lease needed


def test_the_database_refuses_a_second_open_kill(store_url: str) -> None:
    s = Store(store_url)
    (k1,) = add(s, kill_row())
    with pytest.raises(DuplicateKill, match=f"journal #{k1} by r1"):
        add(s, kill_row(actor="r2"))
    assert [r.id for r in s.journal_rows()] == [k1]  # the whole intent was rolled back
    add(s, kill_row(target="other"))  # another target of the same group is its own kill
    s.journal_finish(k1, "done", NOW)
    with pytest.raises(DuplicateKill):
        add(s, kill_row())  # done and not restored: still open
    (r1,) = add(s, {**kill_row(), "op": "restore", "kill_id": k1})
    s.journal_finish(r1, "done", NOW)
    (k2,) = add(s, kill_row())  # undone: it may be killed again
    s.journal_finish(k2, "abandoned", NOW)
    add(s, kill_row())


def test_two_writers_racing_for_one_kill_journal_one(store_url: str) -> None:
    a, b = Store(store_url), Store(store_url)
    ca, cb = a.engine.connect(), b.engine.connect()
    ta, tb = ca.begin(), cb.begin()
    a.journal_add(ca, [kill_row()], NOW)
    with pytest.raises(DuplicateKill):
        if b.dialect == "sqlite":  # SQLite serialises writers: b waits, then fails
            ta.commit()
        else:  # PostgreSQL: b blocks on a's uncommitted key until a commits
            import threading

            threading.Timer(0.3, ta.commit).start()
        b.journal_add(cb, [kill_row(actor="r2")], NOW)
    tb.rollback()
    ca.close(), cb.close()
    assert len(a.journal_rows(op="kill")) == 1


def test_leadership_stops_acting_before_the_lease_can_expire() -> None:
    t = [0.0]
    lead = Leadership("sqlite://", "me", 30, monotonic=lambda: t[0])
    lead._valid_until = 30.0  # as after a renewal that started at t=0
    lead._epoch = 1
    assert lead.can_act()
    t[0] = 30 - lead.margin - 0.01
    assert lead.can_act()
    t[0] = 30 - lead.margin + 0.01  # no renewal since: stop, a full margin before expiry
    assert not lead.can_act()
    with pytest.raises(LeaseLost, match="margin"):
        lead.ensure()
    lead.engine.dispose()


@pytest.mark.postgres
def test_postgres_sessions_carry_the_timeouts(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL session settings")
    s = Store(store_url, timeouts=DbTimeouts(lock_s=0.3, statement_s=2, idle_in_tx_s=1))
    with s.engine.connect() as c:
        got = {
            k: c.execute(text(f"SHOW {k}")).scalar()
            for k in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout")
        }
    assert got == {
        "lock_timeout": "300ms",
        "statement_timeout": "2s",
        "idle_in_transaction_session_timeout": "1s",
    }
    holder = Store(store_url).engine.connect()
    tx = holder.begin()
    holder.execute(text("LOCK TABLE journal IN ACCESS EXCLUSIVE MODE"))
    t0 = time.monotonic()
    with pytest.raises(Exception, match="lock timeout"):
        s.journal_rows()
    assert time.monotonic() - t0 < 2  # bounded by lock_timeout, not by the holder
    tx.rollback()
    holder.close()
