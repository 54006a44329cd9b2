"""The leader lease and its fencing token: which replica may act on this state, and since when.

One row per lease name. Taking it over (from nobody, from an expired holder, or after our own
lease ran out) increments ``epoch``; renewing it keeps the epoch. Every journal intent is written
in a transaction that re-reads this row and checks that the epoch and the process token are
still ours and the lease has a margin left (:func:`verify`), so a replica that was paused, cut
off or simply slow cannot journal (and therefore cannot carry out) an action after another one
took over. On PostgreSQL that read takes a share lock, so a takeover waits for an intent being
written and the new holder's journal replay sees it.

Times are the database's own clock on PostgreSQL (replicas on different hosts need not agree on
the time) and the local wall clock on SQLite (one host). Every write is a compare-and-set on the
values just read, so the outcome is decided by the database on both backends.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, delete, select, text, update

from killswitch.state import tables as t


@dataclass(frozen=True)
class Claimant:
    """Who asks for the lease: an identity for people and a token for this process."""

    identity: str
    token: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class Holder:
    """What the lease row says: who holds it, in which epoch, until when (database time)."""

    identity: str
    token: str
    epoch: int
    expires_at: datetime
    host: str
    pid: int
    acquired_at: datetime | None

    def describe(self) -> str:
        where = f" on {self.host} (pid {self.pid})" if self.host else ""
        return f"{self.identity}{where}, lease until {self.expires_at.isoformat()}"


@dataclass(frozen=True)
class Grant:
    """A successful take or renewal: the epoch to fence with and the lease's end (DB time)."""

    epoch: int
    expires_at: datetime
    db_now: datetime
    taken_over: bool


class LeaseLost(RuntimeError):
    """This replica no longer holds the lease it acts under: nothing may be journaled or done."""


class Fence(Protocol):
    """What the store asks before it journals an intent (implemented by the daemon's keeper)."""

    def verify_in(self, conn: Connection) -> None:
        """Raise :class:`LeaseLost` unless this replica may still act; ``conn`` is the intent's
        own transaction."""

    def ensure(self) -> None:
        """Raise :class:`LeaseLost` unless this replica may still act (no I/O: right before a
        provider call)."""


@runtime_checkable
class ShardedFence(Protocol):
    """A fence with one lease per shard (``ha.shard``): each budget's actions are fenced by the
    lease of the shard that budget belongs to, not by one leader lease."""

    def for_budget(self, budget: str) -> Fence:
        """The fence of the shard that acts for ``budget``."""


def scoped(fence: Fence, budget: str) -> Fence:
    """The fence that guards ``budget``'s actions: its shard's, or the one lease there is."""
    return fence.for_budget(budget) if isinstance(fence, ShardedFence) else fence


def db_now(conn: Connection) -> datetime:
    """The time that decides lease expiry: the server's clock on PostgreSQL, ours on SQLite."""
    if conn.dialect.name == "postgresql":
        value = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
    return datetime.now(UTC)


def read(conn: Connection, name: str, *, lock: str | None = None) -> Holder | None:
    q = select(t.lease).where(t.lease.c.name == name)
    if lock == "update":
        q = q.with_for_update()
    elif lock == "share":
        q = q.with_for_update(read=True)
    r = conn.execute(q).mappings().first()
    return None if r is None else _holder(r)


def _holder(r: Any) -> Holder:
    return Holder(
        r["holder"],
        r["token"],
        int(r["epoch"]),
        r["expires_at"],
        r["host"],
        int(r["pid"]),
        r["acquired_at"],
    )


def _dead_predecessor(h: Holder, me: Claimant) -> bool:
    """The holder was an earlier process on this host that no longer runs (crash, kill -9).

    Same host and the same pid as ours means an earlier incarnation (a restarted container);
    another pid that does not exist means a crashed daemon. PID reuse errs on the safe side.
    """
    if h.host != me.host or h.token == me.token or h.pid <= 0:
        return False
    if h.pid == me.pid:
        return True
    try:
        os.kill(h.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def holder_gone(h: Holder, me: Claimant) -> bool:
    """The row's holder was a process on this host that no longer runs (see above)."""
    return _dead_predecessor(h, me)


def read_prefix(conn: Connection, prefix: str) -> dict[str, Holder]:
    """Every lease row whose name starts with ``prefix`` (the shard leases, the replica rows)."""
    rows = conn.execute(select(t.lease).where(t.lease.c.name.startswith(prefix, autoescape=True)))
    return {r["name"]: _holder(r) for r in rows.mappings()}


SHARD_PREFIX = "shard:"  # one lease per shard with ha.shard (killswitch.shards)
REPLICA_PREFIX = "replica:"  # one row per live replica with ha.shard


def other_live(conn: Connection, prefix: str, me: Claimant) -> Holder | None:
    """A live lease under ``prefix`` held by another running process, if any: the leader lease
    and the shard leases exclude each other, so replicas in the two modes never both act."""
    now = db_now(conn)
    for h in read_prefix(conn, prefix).values():
        if h.expires_at > now and h.token != me.token and not holder_gone(h, me):
            return h
    return None


def acquire(conn: Connection, name: str, me: Claimant, ttl: timedelta) -> Grant | Holder:
    """Take or renew the lease in this transaction: a :class:`Grant`, or who holds it instead."""
    now = db_now(conn)
    cur = read(conn, name, lock="update")
    values = {
        "holder": me.identity,
        "token": me.token,
        "host": me.host,
        "pid": me.pid,
        "expires_at": now + ttl,
    }
    if cur is None:
        ins: Any = t.insert(conn.dialect.name, t.lease)
        res = conn.execute(
            ins.values(name=name, epoch=1, acquired_at=now, **values)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(t.lease.c.name)
        )
        if res.first() is not None:
            return Grant(1, now + ttl, now, taken_over=True)
        cur = read(conn, name)  # another replica inserted it first
        assert cur is not None
        return cur
    mine = cur.token == me.token
    live = cur.expires_at > now
    if live and not mine and not _dead_predecessor(cur, me):
        return cur
    renew = mine and live
    epoch = cur.epoch if renew else cur.epoch + 1
    if not renew:
        values["acquired_at"] = now
    res = conn.execute(
        update(t.lease)
        .where(
            t.lease.c.name == name,
            t.lease.c.token == cur.token,
            t.lease.c.epoch == cur.epoch,
        )
        .values(epoch=epoch, **values)
    )
    if res.rowcount != 1:  # lost a race on SQLite (no row lock there): someone else took it
        now_holder = read(conn, name)
        assert now_holder is not None
        return now_holder
    return Grant(epoch, now + ttl, now, taken_over=not renew)


def verify(conn: Connection, name: str, token: str, epoch: int, margin: timedelta) -> None:
    """Raise :class:`LeaseLost` unless ``token``/``epoch`` hold the lease for ``margin`` more.

    Meant to run inside the transaction that journals an intent, so the intent commits only
    under a lease that was still ours (share-locked on PostgreSQL until the commit).
    """
    cur = read(conn, name, lock="share")
    now = db_now(conn)
    if cur is None or cur.token != token or cur.epoch != epoch:
        holder = cur.describe() if cur else "nobody"
        raise LeaseLost(f"lease epoch {epoch} is no longer ours (now: {holder})")
    if cur.expires_at - now < margin:
        raise LeaseLost(
            f"lease epoch {epoch} ends at {cur.expires_at.isoformat()}, within the "
            f"{margin.total_seconds():g}s safety margin"
        )


def release(conn: Connection, name: str, token: str) -> None:
    conn.execute(delete(t.lease).where(t.lease.c.name == name, t.lease.c.token == token))


def expire(conn: Connection, name: str, token: str) -> None:
    """End our lease now but keep its row, so the next holder's epoch is still a new one."""
    conn.execute(
        update(t.lease)
        .where(t.lease.c.name == name, t.lease.c.token == token)
        .values(expires_at=db_now(conn))
    )


def forget_expired(conn: Connection, prefix: str, before: datetime) -> None:
    """Drop rows under ``prefix`` that expired before ``before`` (replicas long gone)."""
    conn.execute(
        delete(t.lease).where(
            t.lease.c.name.startswith(prefix, autoescape=True), t.lease.c.expires_at < before
        )
    )
