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
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from killswitch import __version__
from killswitch.config import Config
from killswitch.engine import Engine
from killswitch.errors import StartupError
from killswitch.metrics import Metrics
from killswitch.notifiers import build_notifiers
from killswitch.plugins import Provider, ProviderContext, registry
from killswitch.pricing import PriceBook
from killswitch.server import Health, serve
from killswitch.state import Store

log = structlog.get_logger("killswitch.daemon")
LEASE_NAME = "killswitch-leader"
STOP_GRACE = 8.0


def system_clock() -> datetime:
    return datetime.now(UTC)


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
    store = Store(
        config.base.state, migrate=config.base.state_migrate, config_path=config.source_path
    )
    prices = PriceBook(config.base.prices)
    ctx = ProviderContext(
        prices=prices,
        drift_alert_usd=config.base.reconciliation.drift_alert_usd,
        drift_alert_ratio=config.base.reconciliation.drift_alert_ratio,
        http_transport=transport,
        hooks=tuple(hooks),
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
        identity=identity or default_identity(),
    )
    return Runtime(config, store, providers, engine, metrics)


class Daemon:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.health = Health(runtime.metrics, runtime.store.ping)
        self.stop_event = asyncio.Event()
        self.leader = not runtime.config.base.ha.enabled
        self._inflight: set[asyncio.Task[Any]] = set()

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
        except Exception:
            self.rt.metrics.cycle_errors.inc()
            log.exception("cycle failed; the loop continues", job=what)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def provider_cycle(self, name: str) -> None:
        if not self.leader or self.stop_event.is_set():
            return
        await self._guarded(f"cycle:{name}", self.rt.engine.cycle(name))
        self.health.started = True

    async def outbox_cycle(self) -> None:
        self.health.beat()
        if not self.leader or self.stop_event.is_set():
            return
        await self._guarded("outbox", self.rt.engine.drain_outbox())

    async def lease_cycle(self) -> None:
        ha = self.rt.config.base.ha
        now = self.rt.engine.clock()
        was = self.leader
        try:
            self.leader = self.rt.store.acquire_lease(
                LEASE_NAME, self.rt.engine.identity, now, timedelta(seconds=ha.lease_seconds)
            )
        except Exception:
            self.leader = False
            log.exception("lease check failed; standing by")
        self.health.role = "active" if self.leader else "standby"
        self.rt.metrics.leader.labels(self.rt.engine.identity).set(1 if self.leader else 0)
        if self.leader and not was:
            log.warning("acquired leader lease: this replica acts now")
            await self._guarded("resume", self.rt.engine.resume(now))
            for name in self.rt.providers:
                asyncio.get_running_loop().create_task(self.provider_cycle(name))
        elif was and not self.leader:
            log.warning("lost leader lease: standing by")
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

    async def run(self, *, once: bool = False) -> int:
        rt = self.rt
        server = None if once else self.listen()  # before the banner: a failure is the first line
        self.banner()
        # Budgets removed from the config leave status (the journal stays, as history).
        rt.store.forget_budgets(b.name for b in rt.config.budgets)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        try:
            if rt.config.base.ha.enabled:
                await self.lease_cycle()
            elif self.leader:
                replayed = await rt.engine.resume(rt.engine.clock())
                if replayed:
                    log.warning("replayed unfinished journal entries", count=replayed)
            if once:
                ok = True
                for name in rt.providers:
                    report = await rt.engine.cycle(name)
                    ok &= report.ok
                await rt.engine.drain_outbox()
                return 0 if ok else 1
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
            if rt.config.base.ha.enabled:
                sched.add_job(
                    self.lease_cycle,
                    "interval",
                    seconds=max(1.0, rt.config.base.ha.lease_seconds / 3),
                    max_instances=1,
                    coalesce=True,
                    id="lease",
                )
            sched.start()
            await self.stop_event.wait()
            log.info("stopping: no new cycles; waiting for in-flight work", grace_s=STOP_GRACE)
            sched.shutdown(wait=False)
            pending = [t for t in self._inflight if not t.done()]
            if pending:
                _, late = await asyncio.wait(pending, timeout=STOP_GRACE)
                for t in late:
                    t.cancel()
            if rt.config.base.ha.enabled and self.leader:
                rt.store.release_lease(LEASE_NAME, rt.engine.identity)
            return 0
        finally:
            if server is not None:
                server.shutdown()
            await rt.aclose()
            log.info("stopped")
