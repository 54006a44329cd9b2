"""Holding the lease: a thread of its own renews it, whatever the cycles and the event loop do.

Why a thread: a long cycle, a blocked event loop or a slow statement in the main store must never
cost the lease by itself, and a replica that cannot renew must notice on time. The keeper renews
every ``ttl / 5`` through its own one-connection engine with short timeouts. It trusts the lease
locally until ``start of the last successful renewal + ttl`` (earlier than the database's view,
which counts from a later instant), and this replica acts only while more than ``margin`` of that
is left. So a replica that cannot reach the database stops acting at least ``margin`` before any
other replica can take over, and one that was paused (SIGSTOP, a VM freeze) finds on waking that
its time is up before it journals or calls anything.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlalchemy import Connection, Engine

from killswitch.secrets import redact
from killswitch.state import lease as lease_sql
from killswitch.state.lease import Claimant, Grant, Holder, LeaseLost
from killswitch.state.store import DbTimeouts, make_engine

log = structlog.get_logger("killswitch.lease")
LEASE_NAME = "killswitch-leader"


def lease_engine(url: str, step: float, application_name: str) -> Engine:
    """The one-connection engine a lease keeper renews through (here and in the shards).

    Every wait (lock, statement, idle transaction, connect) is bounded by one renewal step, so
    a stuck database costs one renewal, never the margin the replica still trusts its lease for.
    """
    timeouts = DbTimeouts(lock_s=step, statement_s=step, idle_in_tx_s=step, connect_s=step)
    return make_engine(url, timeouts, application_name=application_name, pool_size=1)


class Leadership:
    """The lease as this process sees it; also the store's :class:`~killswitch.state.lease.Fence`."""

    def __init__(
        self,
        url: str,
        identity: str,
        lease_seconds: float,
        *,
        name: str = LEASE_NAME,
        on_change: Callable[[bool], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.me = Claimant(identity, uuid.uuid4().hex)
        self.ttl = float(lease_seconds)
        self.renew_every = self.ttl / 5
        self.margin = self.ttl / 3
        self.on_change = on_change
        self._mono = monotonic
        self.engine = lease_engine(url, self.renew_every, f"killswitch-lease:{identity}")
        self._lock = threading.Lock()
        self._epoch = 0
        self._valid_until = float("-inf")
        self._reported = False
        self._last_ok = float("-inf")
        self.holder: Holder | None = None  # the other holder, while we are standing by
        self.error: str | None = None  # the last renewal failure, while it lasts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def identity(self) -> str:
        return self.me.identity

    @property
    def epoch(self) -> int:
        return self._epoch

    # ---- one attempt --------------------------------------------------------------------
    def attempt(self) -> Grant | Holder:
        """Take or renew once. Raises on database errors (the caller logs and retries)."""
        started = self._mono()
        try:
            with self.engine.begin() as conn:
                # replicas sharding the providers (ha.shard) act: this one must not lead too
                sharding = lease_sql.other_live(conn, lease_sql.SHARD_PREFIX, self.me)
                got = sharding or lease_sql.acquire(
                    conn, self.name, self.me, timedelta(seconds=self.ttl)
                )
        except Exception as exc:
            self.error = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
            raise
        with self._lock:
            self.error = None
            self._last_ok = self._mono()
            if isinstance(got, Grant):
                self._epoch = got.epoch
                self._valid_until = started + self.ttl
                self.holder = None
            else:
                self._valid_until = float("-inf")
                self.holder = got
        return got

    # ---- the fence ----------------------------------------------------------------------
    def remaining(self) -> float:
        """Seconds of local trust left in the lease (negative: none)."""
        return self._valid_until - self._mono()

    def can_act(self) -> bool:
        return self.remaining() > self.margin

    def healthy(self) -> bool:
        """The database answered the keeper recently (granted or not): readiness."""
        return self._mono() - self._last_ok < self.ttl - self.margin

    def ensure(self) -> None:
        left = self.remaining()
        if left <= self.margin:
            raise LeaseLost(
                f"lease epoch {self._epoch}: {max(left, 0):.1f}s left, under the "
                f"{self.margin:g}s margin (last renewal error: {self.error or 'none'})"
            )

    def verify_in(self, conn: Connection) -> None:
        self.ensure()
        lease_sql.verify(
            conn, self.name, self.me.token, self._epoch, timedelta(seconds=self.margin)
        )

    # ---- the thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._reported = self.can_act()  # the caller handled the first attempt itself
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                got = self.attempt()
                if isinstance(got, Grant) and got.taken_over:
                    log.warning("lease taken", epoch=got.epoch, identity=self.identity)
            except Exception:
                log.error(
                    "lease renewal failed; acting stops when the margin is reached",
                    error=self.error,
                    left_s=round(self.remaining(), 1),
                )
            self._report()
            self._stop.wait(self._next_wait())

    def _next_wait(self) -> float:
        """Renew on schedule; wake in time to notice the margin running out."""
        left = self.remaining() - self.margin
        if 0 < left < self.renew_every:
            return max(0.05, left)
        return self.renew_every

    def _report(self) -> None:
        now = self.can_act()
        if now != self._reported:
            self._reported = now
            if self.on_change is not None:
                self.on_change(now)

    def stop(self, *, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_every + 1)
        if release and self._epoch:
            try:
                with self.engine.begin() as conn:
                    lease_sql.release(conn, self.name, self.me.token)
            except Exception:  # the lease then expires on its own
                log.warning("could not release the lease; it expires by itself", error=self.error)
        self.engine.dispose()
