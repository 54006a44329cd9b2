"""One cycle for one provider: poll -> record -> evaluate -> decide -> act -> record -> notify.

The engine owns the order of things and the safety of each step; the policy lives in the pure
core (``killswitch.core.evaluate``) and the provider specifics in plugins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from killswitch.config import BudgetConfig, Config
from killswitch.core.evaluate import BudgetRule, Evaluation, evaluate
from killswitch.core.ledger import Ledger
from killswitch.executor import Executor
from killswitch.metrics import Metrics, SourceHealth
from killswitch.model import Decision, DecisionKind, GroupStatus, PollResult, SourceEvent
from killswitch.notifiers import Notifier
from killswitch.notifiers.events import Event
from killswitch.plugins import Provider
from killswitch.secrets import redact
from killswitch.state import Store

log = structlog.get_logger("killswitch.engine")

POLL_TIMEOUT = 300.0
OUTBOX_MAX_BACKOFF = 300.0
OUTBOX_GIVE_UP_AFTER = timedelta(days=7)


def rule_for(b: BudgetConfig) -> BudgetRule:
    return BudgetRule(
        name=b.name,
        scope=b.scope_spec,
        window=b.window_spec,
        limit=b.limit_money,
        warn_at=b.warn_at,
        kill_at=b.kill_at,
        enforce=b.mode == "enforce" and bool(b.actions),
        restore_on_reset=b.restore == "on_reset",
        fail_closed=b.fail_closed,
    )


@dataclass
class CycleReport:
    provider: str
    polls: dict[str, PollResult] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.polls.values())

    @property
    def decisions(self) -> list[Decision]:
        return [d for e in self.evaluations.values() for d in e.decisions]


class Engine:
    def __init__(
        self,
        config: Config,
        store: Store,
        providers: Mapping[str, Provider],
        notifiers: list[Notifier],
        metrics: Metrics,
        *,
        clock: Callable[[], datetime],
        identity: str,
    ) -> None:
        self.config = config
        self.store = store
        self.providers = providers
        self.notifiers = notifiers
        self.metrics = metrics
        self.clock = clock
        self.identity = identity
        self.ledger = Ledger()
        self.executor = Executor(config, store, providers, metrics, self.enqueue, identity)
        self._locks = {name: asyncio.Lock() for name in providers}
        self._warm: set[str] = set()
        self._logged: set[str] = set()
        snap = metrics.snapshot
        for b in config.budgets:
            snap.providers[b.name] = b.provider
        metrics.init_series(
            providers,
            [a.name for acts in config.actions.values() for a in acts],
            [n.name for n in notifiers],
            [b.name for b in config.budgets],
        )

    # ---- helpers -------------------------------------------------------------------------
    def budgets_of(self, provider: str) -> list[BudgetConfig]:
        return [b for b in self.config.budgets if b.provider == provider]

    def source_of(self, b: BudgetConfig) -> str:
        return b.source or self.providers[b.provider].default_source

    def enqueue(self, event: Event) -> None:
        """Queue for every notifier; log once per event (the log is the channel of last resort)."""
        now = self.clock()
        fresh = False
        for n in self.notifiers:
            fresh |= self.store.enqueue(n.name, event.dedup_key, event.to_json(), now)
        if not self.notifiers:
            fresh = event.dedup_key not in self._logged
            if len(self._logged) > 10_000:
                self._logged.clear()
            self._logged.add(event.dedup_key)
        if fresh:
            log.info(
                "event",
                kind=event.kind,
                budget=event.budget,
                group=event.group,
                summary=event.summary,
            )

    def _since(self, source: str, now: datetime) -> datetime:
        starts = [
            b.window_spec.at(now).start
            for b in self.config.budgets
            if b.provider in self.providers and self.source_of(b) == source
        ]
        return min(starts) if starts else now - timedelta(days=1)

    # ---- the cycle -----------------------------------------------------------------------
    async def poll(self, provider_name: str, now: datetime) -> dict[str, PollResult]:
        provider = self.providers[provider_name]
        sources = provider.sources()
        wanted = {self.source_of(b) for b in self.budgets_of(provider_name)} or {
            provider.default_source
        }
        out = {}
        for name in sorted(wanted):
            src = sources[name]
            since = self._since(name, now)
            if name not in self._warm:  # first poll since start: reload the window from state
                self.ledger.add(self.store.load_observations(name, since))
                self._warm.add(name)
            t0 = time.perf_counter()
            try:
                result = await asyncio.wait_for(src.poll(now, since), POLL_TIMEOUT)
            except Exception as exc:  # a source bug or timeout is an error poll, not a crash
                result = PollResult(name, error=redact(f"{type(exc).__name__}: {exc}"))
                log.exception("source raised", provider=provider_name, source=name)
            self.metrics.poll_duration.labels(provider_name).observe(time.perf_counter() - t0)
            out[name] = result
        return out

    def record(self, provider_name: str, results: Mapping[str, PollResult], now: datetime) -> None:
        provider = self.providers[provider_name]
        snap = self.metrics.snapshot
        for name, result in results.items():
            if result.ok:
                self.ledger.add(result.observations)
                self.store.record_observations(result.observations)
                self.metrics.polls.labels(provider_name, "success").inc()
                self.metrics.last_success.labels(provider_name).set(now.timestamp())
                for gname, series in result.gauges.items():
                    # Each poll's gauge is the whole truth for this provider: replace, so series
                    # labelled by day (drift) do not pile up forever.
                    merged = {
                        k: v
                        for k, v in snap.gauges.get(gname, {}).items()
                        if k[0] != ("provider", provider_name)
                    }
                    for lbls, v in series.items():
                        merged[(("provider", provider_name), *lbls)] = v
                    snap.gauges[gname] = merged
                for ev in result.events:
                    self._source_event(provider_name, ev, now)
            else:
                self.metrics.polls.labels(provider_name, "error").inc()
                log.error(
                    "poll failed: no data recorded, source marked stale",
                    provider=provider_name,
                    source=name,
                    error=result.error,
                )
            self.store.record_source(
                provider_name, name, now, result.error, result.data_as_of, result.coverage
            )
            h = snap.sources.setdefault((provider_name, name), SourceHealth(provider_name, name))
            h.last_attempt = now
            h.error = result.error
            if result.ok:
                h.last_success = now
                h.data_as_of = result.data_as_of or now
            h.stale = (
                (not result.ok)
                or h.last_success is None
                or (now - h.last_success > provider.config.stale_threshold)
            )
            # One announcement per outage: keyed by when it started, cleared on recovery.
            if h.stale and h.stale_since is None:
                h.stale_since = now
                self.enqueue(
                    Event(
                        "source_stale",
                        f"source_stale:{provider_name}:{name}:{now.isoformat()}",
                        f"{provider_name}/{name} could not be read ({result.error or 'data too old'});"
                        " budgets on it are evaluated on the last good data and no new spend is seen",
                        now.isoformat(),
                        provider=provider_name,
                    )
                )
            elif not h.stale and h.stale_since is not None:
                self.enqueue(
                    Event(
                        "source_recovered",
                        f"source_recovered:{provider_name}:{name}:{h.stale_since.isoformat()}",
                        f"{provider_name}/{name} is read again (stale since "
                        f"{h.stale_since.isoformat()})",
                        now.isoformat(),
                        provider=provider_name,
                    )
                )
                h.stale_since = None
            cutoff = self._since(name, now) - timedelta(hours=1)
            self.ledger.prune(name, cutoff)
        snap.now = now

    def _source_event(self, provider: str, ev: SourceEvent, now: datetime) -> None:
        self.enqueue(
            Event(
                ev.kind,
                f"{provider}:{ev.dedup_key}",
                redact(ev.summary),
                now.isoformat(),
                provider=provider,
                details=dict(ev.details),
            )
        )

    def evaluate(self, provider_name: str, now: datetime) -> dict[str, Evaluation]:
        out = {}
        snap = self.metrics.snapshot
        for b in self.budgets_of(provider_name):
            src = self.source_of(b)
            h = snap.sources.get((provider_name, src))
            ev = evaluate(
                rule_for(b),
                self.ledger.observations(src),
                self.store.states(b.name),
                now,
                coverage=self.store.coverage(src),
                stale=bool(h and h.stale),
            )
            out[b.name] = ev
        return out

    async def act(self, evaluations: Mapping[str, Evaluation], now: datetime) -> None:
        # Kills that failed in an earlier cycle are retried first, once per cycle.
        await self.executor.retry_failed_kills(now)
        kills: list[Decision] = []
        for name, ev in evaluations.items():
            self.store.save_states(name, ev.states, now)
            for d in ev.decisions:
                if d.kind is DecisionKind.KILL:
                    kills.append(d)
                elif d.kind is DecisionKind.RESTORE:
                    await self.executor.run_restore(d, now)
                else:
                    self.enqueue(
                        self.executor._event(
                            {
                                DecisionKind.WARN: "warning",
                                DecisionKind.BREACH_ALERT: "breach",
                                DecisionKind.INCOMPLETE: "incomplete",
                            }[d.kind],
                            d,
                            now,
                            d.reason,
                            key=f"{d.kind.value}:{d.budget}:{d.group}:{d.window.key}:{d.threshold}"
                            if d.kind is not DecisionKind.INCOMPLETE
                            else f"incomplete:{d.budget}:{d.group}:{now.isoformat()}",
                        )
                    )
        if kills:
            await self.executor.run_kills(kills, now)

    def publish(self, evaluations: Mapping[str, Evaluation], now: datetime) -> None:
        statuses: list[GroupStatus] = []
        snap = self.metrics.snapshot
        for name, ev in evaluations.items():
            # Re-read state: the executor may have killed or restored during this cycle.
            states = self.store.states(name)
            fixed = []
            for s in ev.statuses:
                st = states.get(s.group)
                failing = (
                    bool(
                        self.store.journal_rows(
                            budget=name, group=s.group, op="kill", status=["failed"]
                        )
                    )
                    if st and st.killed
                    else False
                )
                from dataclasses import replace as _r

                from killswitch.model import BudgetState

                if st is not None and st.killed and st.kill_mode == "protected":
                    s = _r(s, state=BudgetState.BREACHED)  # announced, deliberately untouched
                elif st is not None and st.killed:
                    s = _r(s, state=BudgetState.ERROR if failing else BudgetState.KILLED)
                elif s.state is BudgetState.KILLED:
                    s = _r(s, state=BudgetState.OK)
                fixed.append(s)
            snap.statuses[name] = fixed
            statuses += fixed
        self.store.save_statuses(statuses, now)

    async def cycle(self, provider_name: str, *, act: bool = True) -> CycleReport:
        async with self._locks[provider_name]:
            now = self.clock()
            report = CycleReport(provider_name)
            report.polls = await self.poll(provider_name, now)
            self.record(provider_name, report.polls, now)
            report.evaluations = self.evaluate(provider_name, now)
            if act:
                await self.act(report.evaluations, now)
            self.publish(report.evaluations, now)
            return report

    # ---- outbox --------------------------------------------------------------------------
    async def drain_outbox(self) -> int:
        now = self.clock()
        sent = 0
        by_name = {n.name: n for n in self.notifiers}
        for item in self.store.outbox_due(now):
            n = by_name.get(item.notifier)
            if n is None:
                self.store.outbox_retry(item.id, now, "notifier no longer configured", dead=True)
                continue
            try:
                await n.send(Event.from_json(item.event))
            except Exception as exc:
                err = redact(str(exc) or type(exc).__name__)
                delay = min(OUTBOX_MAX_BACKOFF, 2.0 * 2 ** min(item.attempts, 10))
                created = item.event.get("at")
                dead = (
                    bool(created)
                    and now - datetime.fromisoformat(str(created)) > OUTBOX_GIVE_UP_AFTER
                )
                self.store.outbox_retry(item.id, now + timedelta(seconds=delay), err, dead=dead)
                self.metrics.notifications.labels(n.name, "failure").inc()
                log.warning(
                    "notification failed; will retry",
                    notifier=n.name,
                    attempt=item.attempts + 1,
                    error=err,
                )
                continue
            self.store.outbox_done(item.id, now)
            self.metrics.notifications.labels(n.name, "success").inc()
            sent += 1
        self.metrics.outbox_pending.set(self.store.outbox_counts().get("pending", 0))
        return sent
