"""Sources split across replicas (``ha: {shard: provider}``): one fenced lease per shard.

Why shards are providers (or sets of them): the engine runs one cycle per provider, and a budget
across providers is evaluated in each of its providers' cycles, so providers that such budgets
link are one shard (one holder decides their kills). A ``global`` shard carries what belongs to
no provider: the notification outbox and journal rows of budgets no longer configured.

Each replica keeps a ``replica:<token>`` row alive in the lease table (the live replicas are the
rows not expired), takes free shards up to its fair share ``ceil(shards / live replicas)``,
renews those it holds and lets extras lapse when it is over its share (it stops acting on them
at once and stops renewing, so the next holder takes over only after the lease ran out, exactly
as with the leader lease). A dead replica's shards and its replica row expire together, so the
survivors' share grows and they take the shards within one lease period (at once when the dead
one ran on the same host, as for the leader lease).

Every action is fenced by its budget's shard: the intent transaction verifies that shard's row
(epoch and token) and the provider call re-checks the local trust, as :mod:`killswitch.leadership`
does for the one lease.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import Connection

from killswitch.leadership import lease_engine
from killswitch.secrets import redact
from killswitch.state import lease as lease_sql
from killswitch.state.lease import Claimant, Fence, Grant, Holder, LeaseLost

log = structlog.get_logger("killswitch.shards")
GLOBAL = "global"
SHARD_PREFIX = lease_sql.SHARD_PREFIX
REPLICA_PREFIX = lease_sql.REPLICA_PREFIX
LEADER_LEASE = "killswitch-leader"  # killswitch.leadership.LEASE_NAME
NAME_MAX = 64  # lease.name is String(64)


# ---- pure: what the shards are and who should hold which ----------------------------------
def provider_shards(
    providers: Iterable[str], budget_providers: Iterable[Sequence[str]]
) -> dict[str, str]:
    """provider -> shard key: ``provider:<name>``, or ``provider:<a>+<b>`` for providers that a
    budget across providers links (they must be decided by one holder)."""
    comp: dict[str, frozenset[str]] = {p: frozenset({p}) for p in providers}
    for names in budget_providers:
        linked = frozenset().union(*(comp[p] for p in names if p in comp))
        for p in linked:
            comp[p] = linked
    return {p: "provider:" + "+".join(sorted(c)) for p, c in comp.items()}


def lease_name(shard: str) -> str:
    """The lease row of a shard; a key too long for the column keeps a prefix and a hash."""
    name = SHARD_PREFIX + shard
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(shard.encode()).hexdigest()[:16]
    return f"{name[: NAME_MAX - 17]}~{digest}"


def fair_share(shards: int, replicas: int) -> int:
    """The most shards one replica should hold: every shard is held once all hold their share."""
    return math.ceil(shards / max(1, replicas))


@dataclass(frozen=True)
class ShardPlan:
    share: int
    renew: tuple[str, ...]
    take: tuple[str, ...]
    release: tuple[str, ...]


def plan_shards(
    shards: Sequence[str],
    mine: Collection[str],
    taken: Collection[str],
    replicas: int,
    *,
    start: int = 0,
) -> ShardPlan:
    """One replica's next step: keep up to its fair share of what it holds, release the rest,
    take free shards (held by nobody live) to fill the share.

    ``start`` rotates where each replica begins looking for free shards, so replicas starting
    together mostly try different ones (the database decides any race anyway).
    """
    share = fair_share(len(shards), replicas)
    held = [s for s in shards if s in mine]
    keep, release = held[:share], held[share:]
    free = [s for s in shards if s not in mine and s not in taken]
    if free:
        k = start % len(free)
        free = free[k:] + free[:k]
    take = free[: max(0, share - len(keep))]
    return ShardPlan(share, tuple(keep), tuple(take), tuple(release))


# ---- the keeper -----------------------------------------------------------------------------
class ShardFence:
    """One shard's lease as the store and the executor see it (a :class:`Fence`)."""

    def __init__(self, keeper: ShardKeeper, shard: str) -> None:
        self.keeper = keeper
        self.shard = shard

    def ensure(self) -> None:
        left = self.keeper.remaining(self.shard)
        if left <= self.keeper.margin:
            raise LeaseLost(
                f"shard {self.shard}: {max(left, 0):.1f}s of its lease left, under the "
                f"{self.keeper.margin:g}s margin (last renewal error: "
                f"{self.keeper.error or 'none'})"
            )

    def verify_in(self, conn: Connection) -> None:
        self.ensure()
        lease_sql.verify(
            conn,
            lease_name(self.shard),
            self.keeper.me.token,
            self.keeper.epoch(self.shard),
            timedelta(seconds=self.keeper.margin),
        )


class ShardKeeper:
    """Takes, renews and releases this replica's shards in a thread of its own (why a thread:
    see :mod:`killswitch.leadership`). Also the store's fence: each budget by its shard."""

    def __init__(
        self,
        url: str,
        identity: str,
        lease_seconds: float,
        shard_of_provider: Mapping[str, str],
        shard_of_budget: Mapping[str, str],
        *,
        on_change: Callable[[str, bool], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.me = Claimant(identity, uuid.uuid4().hex)
        self.ttl = float(lease_seconds)
        self.renew_every = self.ttl / 5
        self.margin = self.ttl / 3
        self.of_provider = dict(shard_of_provider)
        self.of_budget = dict(shard_of_budget)
        self.shards = sorted({*self.of_provider.values(), GLOBAL})
        self.on_change = on_change
        self._mono = monotonic
        self._start = zlib.crc32(self.me.token.encode())
        self.engine = lease_engine(url, self.renew_every, f"killswitch-shards:{identity}")
        self._lock = threading.Lock()
        self._epochs: dict[str, int] = {}
        self._valid_until: dict[str, float] = {}
        self._lapsing: set[str] = set()  # released: not renewed, left to expire
        self._reported: dict[str, bool] = {}
        self._last_ok = float("-inf")
        self.replicas = 1
        self.leader: Holder | None = None  # a leader-mode replica we wait for, if any
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def identity(self) -> str:
        return self.me.identity

    # ---- the fence ------------------------------------------------------------------------
    def epoch(self, shard: str) -> int:
        return self._epochs.get(shard, 0)

    def remaining(self, shard: str) -> float:
        return self._valid_until.get(shard, float("-inf")) - self._mono()

    def owns(self, shard: str) -> bool:
        return self.remaining(shard) > self.margin

    def owns_provider(self, provider: str) -> bool:
        return self.owns(self.of_provider.get(provider, GLOBAL))

    def owned(self) -> list[str]:
        return [s for s in self.shards if self.owns(s)]

    def shard_for_budget(self, budget: str) -> str:
        return self.of_budget.get(budget, GLOBAL)

    def for_budget(self, budget: str) -> Fence:
        return ShardFence(self, self.shard_for_budget(budget))

    def verify_in(self, conn: Connection) -> None:
        ShardFence(self, GLOBAL).verify_in(conn)

    def ensure(self) -> None:
        ShardFence(self, GLOBAL).ensure()

    def can_act(self) -> bool:
        """Holds at least one shard (the replica's role in /readyz and killswitch_leader)."""
        return bool(self.owned())

    def healthy(self) -> bool:
        return self._mono() - self._last_ok < self.ttl - self.margin

    # ---- one round ------------------------------------------------------------------------
    def attempt(self) -> ShardPlan:
        """Heartbeat, look, then renew / take / release per the fair share. Raises on database
        errors of the look (the caller logs and retries); a failed take is just not taken."""
        try:
            plan = self._look()
            for shard in (*plan.renew, *plan.take):
                self._acquire(shard)
        except Exception as exc:
            self.error = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
            raise
        for shard in plan.release:
            self._release(shard, plan.share)
        self.error = None
        self._last_ok = self._mono()
        self._report()
        return plan

    def _look(self) -> ShardPlan:
        ttl = timedelta(seconds=self.ttl)
        with self.engine.begin() as conn:
            lease_sql.acquire(conn, REPLICA_PREFIX + self.me.token, self.me, ttl)
            now = lease_sql.db_now(conn)
            lease_sql.forget_expired(conn, REPLICA_PREFIX, now - 10 * ttl)
            members = lease_sql.read_prefix(conn, REPLICA_PREFIX)
            rows = lease_sql.read_prefix(conn, SHARD_PREFIX)
            leader = lease_sql.other_live(conn, LEADER_LEASE, self.me)
        if leader is not None:
            return self._defer_to(leader)
        self.leader = None
        live = [
            h
            for h in members.values()
            if h.expires_at > now and not lease_sql.holder_gone(h, self.me)
        ]
        self.replicas = max(1, len(live))
        mine: set[str] = set()
        taken: set[str] = set()
        for shard in self.shards:
            h = rows.get(lease_name(shard))
            if h is None or h.expires_at <= now or lease_sql.holder_gone(h, self.me):
                self._lapsing.discard(shard)
            elif h.token == self.me.token and shard not in self._lapsing:
                mine.add(shard)
            else:
                taken.add(shard)
        return plan_shards(self.shards, mine, taken, self.replicas, start=self._start)

    def _defer_to(self, leader: Holder) -> ShardPlan:
        """A replica without ha.shard leads this state: hold nothing until its lease is gone."""
        if self.leader is None or self.leader.token != leader.token:
            log.warning(
                "a replica without ha.shard holds the leader lease: taking no shard until it "
                "stops (run every replica with the same ha.shard)",
                holder=leader.describe(),
            )
        self.leader = leader
        mine = [s for s in self.shards if self.owns(s)]
        return ShardPlan(0, (), (), tuple(mine))

    def _acquire(self, shard: str) -> None:
        started = self._mono()
        try:
            with self.engine.begin() as conn:
                got = lease_sql.acquire(
                    conn, lease_name(shard), self.me, timedelta(seconds=self.ttl)
                )
        except Exception as exc:  # one shard's failure must not cost the others their renewal
            log.warning("shard lease attempt failed", shard=shard, error=redact(str(exc)))
            return
        with self._lock:
            if isinstance(got, Grant):
                self._epochs[shard] = got.epoch
                self._valid_until[shard] = started + self.ttl
                if got.taken_over:
                    log.warning("shard taken", shard=shard, epoch=got.epoch, identity=self.identity)
            else:
                self._valid_until[shard] = float("-inf")

    def _release(self, shard: str, share: int) -> None:
        """Over our share: stop acting on it now, stop renewing it, let it expire."""
        with self._lock:
            self._valid_until[shard] = float("-inf")
            self._lapsing.add(shard)
        log.warning(
            "shard released: over the fair share, left to expire for another replica",
            shard=shard,
            share=share,
            replicas=self.replicas,
            identity=self.identity,
        )

    def _report(self) -> None:
        for shard in self.shards:
            now = self.owns(shard)
            if now != self._reported.get(shard, False):
                self._reported[shard] = now
                if self.on_change is not None:
                    self.on_change(shard, now)

    def holders(self) -> dict[str, Holder]:
        """shard -> its lease row as the database has it (for tests and people)."""
        with self.engine.begin() as conn:
            rows = lease_sql.read_prefix(conn, SHARD_PREFIX)
        return {s: rows[lease_name(s)] for s in self.shards if lease_name(s) in rows}

    # ---- the thread -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shards", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                self.attempt()
            except Exception:
                log.error(
                    "shard lease round failed; acting on a shard stops at its margin",
                    error=self.error,
                )
                self._report()

    def stop(self, *, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_every + 1)
        held = [s for s in self.shards if self._epochs.get(s)]
        with self._lock:
            self._valid_until.clear()
        if release:
            try:
                with self.engine.begin() as conn:
                    for shard in held:
                        lease_sql.expire(conn, lease_name(shard), self.me.token)
                    lease_sql.release(conn, REPLICA_PREFIX + self.me.token, self.me.token)
            except Exception:  # they expire by themselves
                log.warning("could not release the shard leases; they expire by themselves")
        self.engine.dispose()
