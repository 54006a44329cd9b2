"""The long-running process: builds everything from config, schedules cycles, handles signals.

Shape from kube-janitor: every cycle is wrapped so an unexpected exception is logged and counted,
never fatal; SIGTERM stops scheduling at once and waits briefly for an in-flight cycle; the
effective settings and a loud DRY-RUN banner are logged at start.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import DBAPIError

from killswitch import __version__
from killswitch.config import Config
from killswitch.engine import Engine
from killswitch.errors import StartupError
from killswitch.gc_tuning import tune_gc
from killswitch.leadership import LEASE_NAME, Leadership
from killswitch.managed import with_managed
from killswitch.metrics import Metrics
from killswitch.notifiers import build_notifiers
from killswitch.plugins import Provider, ProviderContext, Service, registry
from killswitch.pricing import PriceBook
from killswitch.secrets import redact
from killswitch.server import Health, serve
from killswitch.shards import GLOBAL, ShardKeeper, provider_shards
from killswitch.state import Store
from killswitch.state.lease import Holder, LeaseLost
from killswitch.state.store import DbTimeouts, DuplicateKill

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger("killswitch.daemon")


__all__ = ["LEASE_NAME", "Daemon", "Runtime", "build"]
STOP_GRACE = 8.0
T = TypeVar("T", covariant=True)


class _Keeper(Protocol[T]):
    """What the first lease attempt needs of a keeper (the leader lease, or the shards)."""

    error: str | None

    def attempt(self) -> T: ...


def system_clock() -> datetime:
    return datetime.now(UTC)


def db_error_line(exc: DBAPIError) -> str:
    """The driver's first line (``canceling statement due to lock timeout``), redacted: what an
    operator needs, without SQLAlchemy's SQL echo, parameters or a traceback."""
    cause = exc.orig if exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return redact(f"{type(cause).__name__}: {first}")


def listen_error(listen: str, exc: OSError) -> str:
    """``listen 127.0.0.1:9464: address already in use; ...`` with the fix for each cause."""
    fixes = {
        errno.EADDRINUSE: "another process (a second killswitch?) has it: stop that process "
        "or set listen: to a free port",
        errno.EADDRNOTAVAIL: "that address is not on this host: set listen: to one of its "
        "addresses, 127.0.0.1 or 0.0.0.0",
        errno.EACCES: "ports below 1024 need privileges: set listen: to a port above 1024",
    }
    reason = (exc.strerror or str(exc)).lower()
    fix = fixes.get(exc.errno or 0, "check listen: in the config")
    return f"listen {listen}: {reason}; {fix}"


def default_identity() -> str:
    return os.environ.get("KILLSWITCH_IDENTITY") or f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Runtime:
    config: Config
    store: Store
    providers: dict[str, Provider]
    engine: Engine
    metrics: Metrics

    async def aclose(self) -> None:
        for p in self.providers.values():
            try:
                await p.aclose()
            except Exception:  # closing must not mask the reason we are stopping
                log.exception("provider close failed", provider=p.name)
        self.engine.close()
        self.store.close()


def build(
    config: Config,
    *,
    clock: Callable[[], datetime] = system_clock,
    transport: httpx.AsyncBaseTransport | None = None,
    identity: str | None = None,
    hooks: Sequence[object] = (),
) -> Runtime:
    registry.load()
    identity = identity or config.base.ha.identity or default_identity()
    store = Store(
        config.base.state,
        migrate=config.base.state_migrate,
        config_path=config.source_path,
        timeouts=DbTimeouts.for_lease(config.base.ha.lease_seconds),
        application_name=f"killswitch:{identity}",
    )
    # Managed keys (``killswitch keys``) are budgets from the start: a journaled kill of one is
    # resumed under its policy. The engine re-reads them every cycle.
    managed = store.managed_keys()
    config = with_managed(config, managed)
    prices = PriceBook(config.base.prices)
    ctx = ProviderContext(
        prices=prices,
        drift_alert_usd=config.base.reconciliation.drift_alert_usd,
        drift_alert_ratio=config.base.reconciliation.drift_alert_ratio,
        http_transport=transport,
        hooks=tuple(hooks),
        state=store,
    )
    providers = {
        name: registry.providers[pc.type](name, pc, ctx) for name, pc in config.providers.items()
    }
    metrics = Metrics()
    notifiers = build_notifiers(config.base.notifiers, transport)
    engine = Engine(
        config,
        store,
        providers,
        notifiers,
        metrics,
        clock=clock,
        identity=identity,
        managed=managed,
    )
    return Runtime(config, store, providers, engine, metrics)


class Daemon:
    """Scheduling, signals and the lease. Only the lease holder polls and acts, HA or not: one
    instance per state, always (a second one exits, or stands by with ``ha.enabled``). With
    ``ha.shard: provider`` each provider (shard) has its own lease and holder instead."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        c = runtime.config.base
        self.lease = Leadership(
            c.state, runtime.engine.identity, c.ha.lease_seconds, on_change=self._lease_event
        )
        self.shards: ShardKeeper | None = None
        if runtime.engine.sharded:
            self.shards = self._shard_keeper()
            runtime.store.fence = self.shards  # each intent under its budget's shard lease
            keeper = self.shards
            runtime.engine.retention.housekeeper = lambda: keeper.owns(GLOBAL)
        else:
            runtime.store.fence = self.lease  # every intent is journaled under a verified lease
        self.health = Health(runtime.metrics, runtime.store.ping, lease=self.shards or self.lease)
        self.stop_event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._once_mode = False

    def _shard_keeper(self) -> ShardKeeper:
        cfg = self.rt.config
        of_provider = provider_shards(self.rt.providers, (b.providers for b in cfg.budgets))
        of_budget = {b.name: of_provider[b.providers[0]] for b in cfg.budgets}
        return ShardKeeper(
            cfg.base.state,
            self.rt.engine.identity,
            cfg.base.ha.lease_seconds,
            of_provider,
            of_budget,
            on_change=self._shard_event,
        )

    @property
    def leader(self) -> bool:
        """Whether this replica may act right now (the lease, with its safety margin); with
        shards: whether it holds any."""
        if self.shards is not None:
            return self.shards.can_act()
        return self.lease.can_act()

    def may_cycle(self, provider: str) -> bool:
        """Whether this replica polls and acts for ``provider`` now."""
        if self.shards is not None:
            return self.shards.owns_provider(provider)
        return self.leader

    def _owns_budget(self, budget: str) -> bool:
        return self.shards is None or self.shards.owns(self.shards.shard_for_budget(budget))

    def banner(self) -> None:
        c = self.rt.config.base
        log.info(
            "killswitch starting",
            version=__version__,
            config=self.rt.config.source_path,
            state=self.rt.store.redacted_url(),
            listen=c.listen,
            dry_run=c.dry_run,
            max_actions_per_cycle=c.max_actions_per_cycle,
            protect=list(c.protect),
            providers={n: p.type for n, p in self.rt.config.providers.items()},
            budgets=[b.name for b in c.budgets],
            notifiers=[n.type for n in c.notifiers],
            ha=c.ha.enabled,
            identity=self.rt.engine.identity,
        )
        if c.dry_run:
            log.warning(
                "*** DRY-RUN: decisions are journaled and announced, NOTHING is executed ***"
            )
        for b in c.budgets:
            if b.dry_run and not c.dry_run:
                log.warning("budget in dry-run", budget=b.name)
            if b.mode == "alert-only":
                log.warning("budget in alert-only mode", budget=b.name)

    async def _guarded(self, what: str, coro: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await coro
        except LeaseLost as exc:  # fenced, as designed: the holder finishes what was journaled
            log.warning("lease lost mid-cycle; not acting", job=what, reason=str(exc))
        except DuplicateKill as exc:  # the database refused a second kill: nothing was done
            log.warning("kill already open; not repeated", job=what, reason=str(exc))
        except DBAPIError as exc:  # a lock or statement timeout, a lost connection: not a bug
            self.rt.metrics.state_errors.inc()
            log.error("state database error; cycle skipped", job=what, error=db_error_line(exc))
        except Exception:
            self.rt.metrics.cycle_errors.inc()
            log.exception("cycle failed; the loop continues", job=what)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def provider_cycle(self, name: str) -> None:
        if not self.may_cycle(name) or self.stop_event.is_set():
            return
        await self._guarded(f"cycle:{name}", self.rt.engine.cycle(name))
        self.health.started = True

    async def outbox_cycle(self) -> None:
        self.health.beat()
        drains = self.shards.owns(GLOBAL) if self.shards is not None else self.leader
        if not drains or self.stop_event.is_set():
            return
        await self._guarded("outbox", self.rt.engine.drain_outbox())

    # ---- the lease ----------------------------------------------------------------------
    def _lease_event(self, active: bool) -> None:
        """From the keeper thread: hand the change to the event loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._lease_changed, active)

    def _lease_changed(self, active: bool) -> None:
        self._publish_role()
        if self.stop_event.is_set():
            return
        if active:
            log.warning(
                "acquired leader lease: this replica acts now",
                epoch=self.lease.epoch,
                identity=self.lease.identity,
            )
            asyncio.get_running_loop().create_task(self._take_over())
        else:
            log.warning(
                "lost leader lease: standing by",
                holder=self.lease.holder.describe() if self.lease.holder else None,
                error=self.lease.error,
            )

    # ---- the shards (ha.shard) ----------------------------------------------------------
    def _shard_event(self, shard: str, active: bool) -> None:
        """From the keeper thread: hand the change to the event loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._shard_changed, shard, active)

    def _shard_changed(self, shard: str, active: bool) -> None:
        self.rt.metrics.shard_owned.labels(shard).set(1 if active else 0)
        self._publish_role()
        if self.stop_event.is_set():
            return
        assert self.shards is not None
        if active:
            log.warning("acting for shard", shard=shard, epoch=self.shards.epoch(shard))
            if not self._once_mode:
                asyncio.get_running_loop().create_task(self._take_shard(shard))
        else:
            log.warning("no longer acting for shard", shard=shard, error=self.shards.error)

    def _shard_budgets(self, shard: str) -> Callable[[str], bool]:
        assert self.shards is not None
        keeper = self.shards
        return lambda budget: keeper.shard_for_budget(budget) == shard

    async def _take_shard(self, shard: str) -> None:
        """Newly this shard's holder: finish what its previous holder journaled, then poll."""
        assert self.shards is not None
        owns = self._shard_budgets(shard)
        await self._guarded(f"resume:{shard}", self._resume_shard(shard, owns))
        for name, of in self.shards.of_provider.items():
            if of == shard:
                asyncio.get_running_loop().create_task(self.provider_cycle(name))

    async def _resume_shard(self, shard: str, owns: Callable[[str], bool]) -> None:
        replayed = await self.rt.engine.resume(self.rt.engine.clock(), owns)
        if replayed:
            log.warning("replayed unfinished journal entries", count=replayed, shard=shard)

    def _publish_role(self) -> None:
        self.health.role = "active" if self.leader else "standby"
        self.rt.metrics.leader.labels(self.rt.engine.identity).set(1 if self.leader else 0)
        if not self.leader:
            self.health.started = True

    def listen(self) -> ThreadingHTTPServer:
        """Bind /metrics and the health endpoints; a port that cannot be bound is one line."""
        listen = self.rt.config.base.listen
        host, _, port = listen.rpartition(":")
        try:
            return serve(host.strip("[]"), int(port), self.rt.metrics, self.health)
        except OSError as exc:
            raise StartupError(listen_error(listen, exc)) from None

    def serve_providers(self) -> list[Service]:
        """Start what providers serve (the ingest listener); a bind failure is one line."""
        services: list[Service] = []
        for p in self.rt.providers.values():
            try:
                service = p.serve()
            except OSError as exc:
                for s in services:
                    s.stop()
                listen = str(getattr(p.config, "listen", "?"))
                raise StartupError(f"provider {p.name}: {listen_error(listen, exc)}") from None
            if service is not None:
                services.append(service)
        return services

    async def _take_over(self) -> None:
        """Newly the holder: finish what a previous holder journaled, then poll at once."""
        await self._guarded("resume", self._resume())
        for name in self.rt.providers:
            asyncio.get_running_loop().create_task(self.provider_cycle(name))

    async def _resume(self) -> None:
        replayed = await self.rt.engine.resume(self.rt.engine.clock())
        if replayed:
            log.warning("replayed unfinished journal entries", count=replayed)

    async def _attempt(
        self, keeper: _Keeper[T], leases: str, kind: str, *, fatal: bool
    ) -> T | None:
        """A keeper's first attempt, off the loop. When the database fails: a startup error if
        ``fatal``, else None (logged): a standby keeps trying from its own thread."""
        try:
            return await asyncio.to_thread(keeper.attempt)
        except Exception as exc:
            if fatal:
                raise StartupError(
                    f"cannot take {leases} on state {self.rt.store.redacted_url()}: "
                    f"{keeper.error or type(exc).__name__}; check that the database is "
                    "reachable and writable"
                ) from None
            log.error(f"{kind} check failed; standing by", error=keeper.error)
            return None

    async def _first_shards(self, *, once: bool) -> None:
        """Take a first fair share of the shards (every replica is a standby for the rest)."""
        assert self.shards is not None
        plan = await self._attempt(self.shards, "the shard leases", "shard lease", fatal=once)
        if plan is None:
            return
        log.info(
            "sharding providers across replicas",
            shards=len(self.shards.shards),
            replicas=self.shards.replicas,
            share=plan.share,
            owned=self.shards.owned(),
        )

    async def _first_lease(self, *, once: bool) -> None:
        """Take the lease before anything else; a second instance without HA exits here."""
        if self.shards is not None:
            return await self._first_shards(once=once)
        ha = self.rt.config.base.ha
        got = await self._attempt(self.lease, "the lease", "lease", fatal=not ha.enabled or once)
        if got is None:
            return
        if isinstance(got, Holder):
            if not ha.enabled or once:
                raise StartupError(
                    f"state {self.rt.store.redacted_url()} is in use by another killswitch "
                    f"({got.describe()}); stop that one first, or set `ha: {{enabled: true}}` "
                    "on both to run this one as a standby"
                )
            log.warning("another replica holds the lease: standing by", holder=got.describe())
        else:
            log.info("lease taken", epoch=got.epoch, identity=self.lease.identity)

    async def run(self, *, once: bool = False) -> int:
        rt = self.rt
        self._loop = asyncio.get_running_loop()
        self._once_mode = once
        # First: a SIGTERM while starting (a slow lease or migration, `docker stop`, a rollout)
        # is a clean stop once start-up is done, not death by the default handler (exit -15).
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self.stop_event.set)
        server = None if once else self.listen()  # before the banner: a failure is the first line
        services: list[Service] = []
        self.banner()
        try:
            await self._first_lease(once=once)
            services = [] if once else self.serve_providers()  # standbys take pushes too
        except StartupError:
            await self._shut_down(services, server, release=False)
            raise
        if self.shards is not None:
            self.shards.start()
        else:
            self.lease.start()
        self._publish_role()
        try:
            # Budgets removed from the config leave status (the journal stays, as history).
            await asyncio.to_thread(rt.store.forget_budgets, [b.name for b in rt.config.budgets])
            if self.leader and self.shards is None:  # shards resume as they are taken
                await self._resume()
            if once:
                return await self._once()
            tune_gc()  # after start-up: what exists now lives as long as the daemon
            sched = self._schedule()
            sched.start()
            await self.stop_event.wait()
            log.info("stopping: no new cycles; waiting for in-flight work", grace_s=STOP_GRACE)
            sched.shutdown(wait=False)
            pending = [t for t in self._inflight if not t.done()]
            if pending:
                _, late = await asyncio.wait(pending, timeout=STOP_GRACE)
                for t in late:
                    t.cancel()
            return 0
        finally:
            await self._shut_down(services, server, release=True)
            log.info("stopped")

    async def _shut_down(
        self,
        services: Sequence[Service],
        server: ThreadingHTTPServer | None,
        *,
        release: bool,
    ) -> None:
        """Stop what :meth:`run` started: the lease keeper (``release``: hand the leases back,
        which a failed start does not), the push services, the HTTP server, then the runtime."""
        self.keeper_stop(release=release)
        for s in services:
            s.stop()
        if server is not None:
            server.shutdown()
        await self.rt.aclose()

    def keeper_stop(self, *, release: bool) -> None:
        if self.shards is not None:
            self.shards.stop(release=release)
            self.lease.engine.dispose()
        else:
            self.lease.stop(release=release)

    async def _once(self) -> int:
        ok = True
        if self.shards is not None:  # only what this replica holds, its own leftovers first
            await self.rt.engine.resume(self.rt.engine.clock(), self._owns_budget)
        for name in self.rt.providers:
            if not self.may_cycle(name):
                continue
            report = await self.rt.engine.cycle(name)
            ok &= report.ok
        if self.shards is None or self.shards.owns(GLOBAL):
            await self.rt.engine.drain_outbox()
        return 0 if ok else 1

    def _schedule(self) -> AsyncIOScheduler:
        rt = self.rt
        sched = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for name, p in rt.providers.items():
            sched.add_job(
                self.provider_cycle,
                "interval",
                args=[name],
                seconds=p.config.poll_interval.total_seconds(),
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                id=f"cycle:{name}",
                misfire_grace_time=None,
            )
        sched.add_job(
            self.outbox_cycle,
            "interval",
            seconds=rt.config.base.outbox_interval,
            next_run_time=now,
            max_instances=1,
            coalesce=True,
            id="outbox",
        )
        return sched
