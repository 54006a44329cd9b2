"""One cycle for one provider: poll -> record -> evaluate -> decide -> act -> record -> notify.

The engine owns the order of things and the safety of each step; the policy lives in the pure
core (``killswitch.core.evaluate``) and the provider specifics in plugins.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

import structlog

from killswitch.act import Acted, Executor, KillMode, resolve
from killswitch.act.announce import notice
from killswitch.act.caps import CapKeeper
from killswitch.act.plan import notice_kind
from killswitch.config import BudgetConfig, Config
from killswitch.core.evaluate import BudgetRule, Evaluation, evaluate
from killswitch.core.fanin import Feed, evaluate_feeds
from killswitch.core.forecast import History
from killswitch.core.ledger import Ledger
from killswitch.core.scope import ObservationIndex
from killswitch.logs import event_level
from killswitch.managed import unenforced, with_managed
from killswitch.metrics import BudgetSeries, Metrics, SourceHealth
from killswitch.model import (
    BudgetPolicy,
    BudgetState,
    Coverage,
    Decision,
    DecisionKind,
    GroupStatus,
    ManagedKey,
    Override,
    PollResult,
    SourceEvent,
)
from killswitch.notifiers import Notifier
from killswitch.notifiers.events import Event
from killswitch.plugins import Provider, Source
from killswitch.secrets import redact, redact_tree
from killswitch.state import Store
from killswitch.state.retention import Retention

log = structlog.get_logger("killswitch.engine")

P = ParamSpec("P")
R = TypeVar("R")

POLL_TIMEOUT = 300.0
OUTBOX_MAX_BACKOFF = 300.0
OUTBOX_GIVE_UP_AFTER = timedelta(days=7)


def rule_for(b: BudgetConfig, policy: BudgetPolicy | None = None) -> BudgetRule:
    """The core's view of a budget; ``policy`` rides along on every decision it produces."""
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
        policy=policy,
        forecast=b.forecast.rule if b.forecast else None,
    )


def budget_series(b: BudgetConfig) -> BudgetSeries:
    limit = b.limit_money
    return BudgetSeries(
        b.name,
        "+".join(b.providers),  # a budget across providers: all of them, in config order
        b.window_spec,
        limit.amount,
        limit.currency,
        b.scope_spec.declared_groups(),
    )


def linked_locks(
    providers: Iterable[str], budgets: Iterable[BudgetConfig]
) -> dict[str, asyncio.Lock]:
    """One lock per set of providers that budgets across providers link (else one each).

    A cycle evaluates, acts and publishes under its provider's lock: two providers' cycles that
    evaluate the same org-wide budget take turns, so they never both decide its group's kill.
    """
    comp: dict[str, frozenset[str]] = {p: frozenset({p}) for p in providers}
    for b in budgets:
        linked = frozenset().union(*(comp[p] for p in b.providers if p in comp))
        for p in linked:
            comp[p] = linked
    by_set: dict[frozenset[str], asyncio.Lock] = {}
    return {p: by_set.setdefault(c, asyncio.Lock()) for p, c in comp.items()}


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


def _histories(config: Config) -> dict[str, History]:
    """Recent (as_of, spend) per group of each forecast budget. In memory: after a restart a
    forecast waits ``min_history`` again; the reactive kill is there all along."""
    return {
        b.name: History(b.forecast.min_history + b.forecast.horizon)
        for b in config.budgets
        if b.forecast is not None
    }


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
        managed: list[ManagedKey] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.providers = providers
        self.notifiers = notifiers
        self.metrics = metrics
        self.clock = clock
        self.identity = identity
        ha = config.base.ha
        self.sharded = ha.enabled and ha.shard == "provider"  # replicas split the providers
        self.ledger = Ledger()
        self.retention = Retention(config, self.ledger, store, self.source_names)
        self.policies = resolve(config)
        self.rules = {b.name: rule_for(b, self.policies[b.name]) for b in config.budgets}
        self.history = _histories(config)
        self.executor = Executor(
            store,
            providers,
            metrics,
            self.policies,
            identity=identity,
            max_actions_per_cycle=config.base.max_actions_per_cycle,
        )
        self.caps = CapKeeper(self.executor.journal, providers, dry_run=config.base.dry_run)
        self._locks = {name: asyncio.Lock() for name in providers}
        self._deciding = linked_locks(providers, config.budgets)
        # Database work runs here, never on the event loop: a slow or locked database delays
        # this replica's cycles, not its lease keeper, health endpoints or other coroutines.
        # One worker, so the in-memory ledger and snapshot are only ever touched by one thread.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="killswitch-db")
        self._warm: set[str] = set()
        self._logged: set[str] = set()
        # coverage of polls recorded with persist=False (plan): the store never saw it
        self._unsaved_coverage: dict[str, list[Coverage]] = {}
        # the managed keys ``config`` already holds as budgets (None: not read yet)
        self._managed: list[ManagedKey] | None = managed
        self._declare_series()

    def _declare_series(self) -> None:
        """Every budget's, provider's, action's and notifier's series exist from the start, so a
        dashboard shows zeros rather than gaps, and an alert on absence means absence."""
        config, metrics = self.config, self.metrics
        metrics.init_budgets(
            (budget_series(b) for b in config.budgets),
            self.clock(),
            per_target=config.base.metrics.per_target,
            max_series=config.base.metrics.max_series,
        )
        metrics.init_series(
            self.providers,
            [a.name for acts in config.actions.values() for a in acts],
            [n.name for n in self.notifiers],
            [b.name for b in config.budgets],
        )

    # ---- managed keys ----------------------------------------------------------------------
    def refresh_managed(self) -> bool:
        """Adopt the managed keys in the state as budgets (``killswitch keys``); True if changed.

        Read every cycle, so a key created or revoked while the daemon runs is enforced (or
        dropped) from the next cycle on, without a config edit or restart.
        """
        keys = self.store.managed_keys()
        if keys == self._managed:
            return False
        self._managed = keys
        config = with_managed(self.config, keys)
        loose = unenforced(config, keys)
        if loose:
            log.error(
                "managed keys not enforced: their provider entry is gone or cannot issue keys",
                keys=loose,
            )
        self.adopt(config)
        # a revoked key's budget leaves status now, not at the next restart
        self.store.forget_budgets([b.name for b in config.budgets])
        return True

    def adopt(self, config: Config) -> None:
        """Run on ``config`` from now on: budgets, their rules, policies and series."""
        self.config = config
        fresh = resolve(config)
        self.policies.clear()  # the executor holds this same mapping
        self.policies.update(fresh)
        self.rules = {b.name: rule_for(b, fresh[b.name]) for b in config.budgets}
        self.retention.budgets = config.budgets
        self.metrics.init_budgets(
            (budget_series(b) for b in config.budgets),
            self.clock(),
            per_target=config.base.metrics.per_target,
            max_series=config.base.metrics.max_series,
        )

    # ---- helpers -------------------------------------------------------------------------
    def budgets_of(self, provider: str) -> list[BudgetConfig]:
        """The budgets a cycle of this provider evaluates: its own and those across it."""
        return [b for b in self.config.budgets if provider in b.providers]

    async def offload(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking store work (and what goes with it) off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._db.shutdown(wait=False, cancel_futures=True)

    def source_of(self, b: BudgetConfig) -> str:
        """The source of a one-provider budget (the first of a budget across providers)."""
        return self.sources_of(b)[0][1]

    def sources_of(self, b: BudgetConfig) -> list[tuple[str, str]]:
        """(provider, source) of every source the budget reads, defaults resolved; raises
        KeyError for a default source of a provider this runtime did not build."""
        return [(p, s or self.providers[p].default_source) for p, s in b.feeds]

    def source_names(self, b: BudgetConfig) -> list[str]:
        """The names of the budget's sources whose providers this runtime built."""
        return [s or self.providers[p].default_source for p, s in b.feeds if p in self.providers]

    def wanted_sources(self, provider_name: str) -> list[str]:
        """The sources a poll of this provider reads: those its budgets use, else its default."""
        provider = self.providers[provider_name]
        wanted = {
            s
            for b in self.budgets_of(provider_name)
            for p, s in self.sources_of(b)
            if p == provider_name
        }
        return sorted(wanted or {provider.default_source})

    def enqueue(self, event: Event) -> None:
        """Queue for every notifier; log once per event (the log is the channel of last resort).

        Every event passes the logs' redaction here, the one door to the outbox: a provider error
        that echoes a key cannot reach a webhook, Slack or PagerDuty body through any summary.
        """
        event = Event.from_json(redact_tree(event.to_json()))
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
            log.log(
                event_level(event.kind),
                event.kind,
                kind=event.kind,
                budget=event.budget,
                group=event.group,
                summary=event.summary,
            )

    def emit(self, acted: Acted) -> None:
        """Queue the events the executor returned for one unit of work."""
        for event in acted.events:
            self.enqueue(event)

    def _since(self, source: str, now: datetime) -> datetime:
        starts = [
            b.window_spec.at(now).start
            for b in self.config.budgets
            if source in self.source_names(b)
        ]
        return min(starts) if starts else now - timedelta(days=1)

    # ---- the cycle -----------------------------------------------------------------------
    async def poll(
        self, provider_name: str, now: datetime, *, deadline: float | None = None
    ) -> dict[str, PollResult]:
        """Poll every source the provider's budgets use; ``deadline`` is a loop.time() bound."""
        sources = self.providers[provider_name].sources()
        out = {}
        for name in self.wanted_sources(provider_name):
            since = self._since(name, now)
            if name not in self._warm:  # first poll since start: reload the window from state
                self.ledger.add(await self.offload(self.store.load_observations, name, since))
                self._warm.add(name)
            t0 = time.perf_counter()
            out[name] = await self._poll_one(provider_name, sources[name], now, since, deadline)
            self.metrics.poll_duration.labels(provider_name).observe(time.perf_counter() - t0)
        return out

    async def _poll_one(
        self, provider: str, src: Source, now: datetime, since: datetime, deadline: float | None
    ) -> PollResult:
        timeout = POLL_TIMEOUT
        if deadline is not None:
            timeout = min(timeout, deadline - asyncio.get_running_loop().time())
        if timeout <= 0:
            return PollResult(src.name, error="not polled: the deadline had passed")
        try:
            return await asyncio.wait_for(src.poll(now, since), timeout)
        except TimeoutError:
            return PollResult(src.name, error=f"no answer within {timeout:.0f}s (timed out)")
        except Exception as exc:  # a source bug is an error poll, not a crash
            log.exception("source raised", provider=provider, source=src.name)
            return PollResult(src.name, error=redact(f"{type(exc).__name__}: {exc}"))

    def record(
        self,
        provider_name: str,
        results: Mapping[str, PollResult],
        now: datetime,
        *,
        persist: bool = True,
        defer: bool = False,
    ) -> None:
        """Take polls into the ledger and source health; with ``persist`` also into the store
        and the outbox (``plan`` records with ``persist=False``: it changes nothing). A cycle
        passes ``defer=True`` and calls :meth:`store_polls` once it has acted: evaluation reads
        the ledger, and a kill should not wait for the observation writes and pruning."""
        for name, result in results.items():
            if result.error is not None:  # sources build errors from provider answers: scrub
                result = replace(result, error=redact(result.error))
            if result.ok:
                self._take(provider_name, result, now, persist)
            else:
                self.metrics.polls.labels(provider_name, "error").inc()
                log.error(
                    "poll failed: no data recorded, source marked stale",
                    provider=provider_name,
                    source=name,
                    error=result.error,
                )
            if persist:
                self.store.record_source(
                    provider_name, name, now, result.error, result.data_as_of, result.coverage
                )
            else:
                self._unsaved_coverage.setdefault(name, []).extend(result.coverage)
            for event in self._health(provider_name, name, result, now):
                if persist:
                    self.enqueue(event)
        self.metrics.snapshot.now = now
        if not defer:
            self.store_polls(results, now, persist=persist)

    def store_polls(
        self, results: Mapping[str, PollResult], now: datetime, *, persist: bool = True
    ) -> None:
        """The observations into the store (the next start warms its ledger from them; a crash
        before this only loses readings the next poll takes again), then retention: the ledger
        and, every ``prune_every``, the store forget what no window needs."""
        for name, result in results.items():
            if persist and result.ok:
                self.store.record_observations(result.observations)
            self.retention.after_poll(name, now, persist=persist)

    def _take(self, provider_name: str, result: PollResult, now: datetime, persist: bool) -> None:
        """A successful poll: observations, counters, per-source gauges and events."""
        self.ledger.add(result.observations)
        self.metrics.polls.labels(provider_name, "success").inc()
        self.metrics.last_success.labels(provider_name).set(now.timestamp())
        gauges = self.metrics.snapshot.gauges
        for gname, series in result.gauges.items():
            # Each poll's gauge is the whole truth for this provider: replace, so series
            # labelled by day (drift) do not pile up forever.
            merged = {
                k: v
                for k, v in gauges.get(gname, {}).items()
                if k[0] != ("provider", provider_name)
            }
            for lbls, v in series.items():
                merged[(("provider", provider_name), *lbls)] = v
            gauges[gname] = merged
        if persist:
            for ev in result.events:
                self._source_event(provider_name, ev, now)

    def _health(
        self, provider_name: str, name: str, result: PollResult, now: datetime
    ) -> list[Event]:
        """Update the source's health; one announcement per outage, keyed by when it started."""
        snap = self.metrics.snapshot
        h = snap.sources.setdefault((provider_name, name), SourceHealth(provider_name, name))
        h.last_attempt = now
        h.error = result.error
        if result.ok:
            h.last_success = now
            h.data_as_of = result.data_as_of or now
        threshold = self.providers[provider_name].config.stale_threshold
        h.stale = (not result.ok) or h.last_success is None or (now - h.last_success > threshold)
        if not result.ok:
            h.failing_since = h.failing_since or now
        else:
            h.failing_since = None
        return self._outage_events(provider_name, name, h, result.error, now, threshold)

    def _outage_events(
        self,
        provider_name: str,
        name: str,
        h: SourceHealth,
        error: str | None,
        now: datetime,
        threshold: timedelta,
    ) -> list[Event]:
        """``source_stale`` once a source has had no data for ``stale_after`` (one failed poll
        of a flaky provider is not an outage); ``source_recovered`` only after a stale."""
        if h.failing_since is not None and h.stale_since is None:
            down_since = h.last_success or h.failing_since
            if now - down_since < threshold:
                return []
            h.stale_since = down_since
            return [
                Event(
                    "source_stale",
                    f"source_stale:{provider_name}:{name}:{down_since.isoformat()}",
                    f"{provider_name}/{name} could not be read since {down_since.isoformat()} "
                    f"({error or 'data too old'}); budgets on it are evaluated on the last good "
                    "data and no new spend is seen",
                    now.isoformat(),
                    provider=provider_name,
                )
            ]
        if h.failing_since is None and h.stale_since is not None:
            since, h.stale_since = h.stale_since, None
            return [
                Event(
                    "source_recovered",
                    f"source_recovered:{provider_name}:{name}:{since.isoformat()}",
                    f"{provider_name}/{name} is read again (stale since {since.isoformat()})",
                    now.isoformat(),
                    provider=provider_name,
                )
            ]
        return []

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
        """The pure core on every budget of the provider, with each source's staleness."""
        out = {}
        sources = self.metrics.snapshot.sources
        indexes: dict[str, ObservationIndex] = {}  # one per source and cycle, shared by budgets
        for b in self.budgets_of(provider_name):
            if b.multi:
                out[b.name] = self.evaluate_across(b, now)
                continue
            src = self.source_of(b)
            h = sources.get((provider_name, src))
            index = indexes.get(src)
            if index is None:
                index = indexes[src] = ObservationIndex(self.ledger.observations(src))
            history = self.history.get(b.name)
            out[b.name] = ev = evaluate(
                self.rules[b.name],
                index.for_scope(self.rules[b.name].scope),
                self.store.states(b.name),
                now,
                coverage=self.store.coverage(src) + self._unsaved_coverage.get(src, []),
                stale=bool(h and h.stale),
                history=history,
                data_as_of=h.data_as_of if h else None,
            )
            if history is not None:
                history.extend(ev.samples.items())
                history.retain(ev.states)
        return out

    def evaluate_across(self, b: BudgetConfig, now: datetime) -> Evaluation:
        """A budget across providers, in a cycle of any of them: every source's latest data,
        the ones polled by the other providers' cycles included (see ``core.fanin``)."""
        feeds = [self._feed(p, s, now) for p, s in self.sources_of(b)]
        return evaluate_feeds(self.rules[b.name], feeds, self.store.states(b.name), now)

    def _feed(self, provider: str, source: str, now: datetime) -> Feed:
        """One source as it stands: its ledger (warmed from the store if its own provider has
        not polled since start) and its health; never polled since start counts as stale."""
        if source not in self._warm:
            self.ledger.add(self.store.load_observations(source, self._since(source, now)))
            self._warm.add(source)
        h = self.metrics.snapshot.sources.get((provider, source))
        threshold = self.providers[provider].config.stale_threshold
        # judged now, not at its own last poll: another provider's cycle may run long after it
        if h is None or h.last_success is None:
            why = "not read since the daemon started"
        elif h.error:
            why = "last poll failed"
        elif now - h.last_success > threshold:
            why = f"last read {now - h.last_success} ago"
        else:
            why = ""
        return Feed(
            provider,
            source,
            self.ledger.observations(source),
            self.store.coverage(source) + self._unsaved_coverage.get(source, []),
            stale=bool(why),
            why_stale=why,
        )

    async def act(self, evaluations: Mapping[str, Evaluation], now: datetime) -> None:
        """Retry failed kills, announce notices, restore, then kill (all of one cycle at once,
        so the blast-radius rail sees them together)."""
        mine = evaluations.keys() if self.sharded else None  # others' shards retry their own
        async for acted in self.executor.retry_failed_kills(now, mine):
            self.emit(acted)
        overrides = await self.offload(self.overrides, list(evaluations), now)
        kills: list[Decision] = []
        for name, ev in evaluations.items():
            self.store.save_states(name, ev.states, now)
            for d in ev.decisions:
                if d.kind is DecisionKind.KILL:
                    kills.append(d)
                elif d.kind is DecisionKind.RESTORE:
                    self.emit(await self.executor.run_restore(d, now))
                elif notice_kind(d) is not None:
                    self.enqueue(notice(d, now))
        if kills:
            async for acted in self.executor.run_kills(kills, now, overrides=overrides):
                self.emit(acted)

    async def sync_caps(self, provider_name: str, now: datetime) -> None:
        """Keep native caps equal to the limits (first line of defence; the kill path is second)."""
        for event in await self.caps.sync(self.budgets_of(provider_name), now):
            self.enqueue(event)

    def overrides(self, budgets: list[str], now: datetime) -> list[Override]:
        """The overrides in force for ``budgets`` (expired ones pruned first), also published
        as ``killswitch_overrides_active``."""
        self.store.prune_overrides(now)
        found = self.executor.journal.overrides(budgets, now)
        for name in budgets:
            n = sum(1 for o in found if o.budget == name)
            self.metrics.overrides_active.labels(name).set(n)
        return found

    async def resume(self, now: datetime, owns: Callable[[str], bool] | None = None) -> int:
        """Replay what a crash left pending (of the budgets ``owns`` says are ours, when given);
        returns how many journal rows were replayed."""
        replayed = 0
        async for acted in self.executor.resume(now, owns):
            self.emit(acted)
            replayed += 1
        return replayed

    def settled(self, name: str, ev: Evaluation) -> list[GroupStatus]:
        """The evaluation's statuses as the journal has them: killed, failing, protected."""
        states = self.store.states(name)
        fixed = []
        for s in ev.statuses:
            st = states.get(s.group)
            if st is not None and st.killed and st.kill_mode == KillMode.PROTECTED:
                s = replace(s, state=BudgetState.BREACHED)  # announced, deliberately untouched
            elif st is not None and st.killed:
                failing = bool(self.executor.journal.failed_kills(name, s.group))
                s = replace(s, state=BudgetState.ERROR if failing else BudgetState.KILLED)
            elif s.state is BudgetState.KILLED:
                s = replace(s, state=BudgetState.OK)
            fixed.append(s)
        return fixed

    def publish(self, evaluations: Mapping[str, Evaluation], now: datetime) -> None:
        statuses: list[GroupStatus] = []
        snap = self.metrics.snapshot
        for name, ev in evaluations.items():
            # Re-read state: the executor may have killed or restored during this cycle.
            snap.statuses[name] = self.settled(name, ev)
            statuses += snap.statuses[name]
        self.store.save_statuses(statuses, now)
        self.metrics.publish(now, evaluations)  # swap in what the next scrape reads

    async def cycle(self, provider_name: str, *, act: bool = True) -> CycleReport:
        async with self._locks[provider_name]:
            await self.offload(self.refresh_managed)
            now = self.clock()
            report = CycleReport(provider_name)
            report.polls = await self.poll(provider_name, now)
            await self.offload(self.record, provider_name, report.polls, now, defer=True)
            async with self._deciding[provider_name]:
                if self._deciding_shared(provider_name):  # another cycle may have decided since
                    now = self.clock()
                report.evaluations = await self.offload(self.evaluate, provider_name, now)
                if act:
                    await self.act(report.evaluations, now)
                    await self.sync_caps(provider_name, now)
                await self.offload(self.store_polls, report.polls, now)
                await self.offload(self.publish, report.evaluations, now)
            return report

    def _deciding_shared(self, provider_name: str) -> bool:
        lock = self._deciding[provider_name]
        return any(other is lock for p, other in self._deciding.items() if p != provider_name)

    async def preview(self, provider_name: str, *, deadline: float | None = None) -> CycleReport:
        """What :meth:`cycle` would decide now, changing nothing (``killswitch plan``)."""
        async with self._locks[provider_name]:
            now = self.clock()
            report = CycleReport(provider_name)
            report.polls = await self.poll(provider_name, now, deadline=deadline)
            self.record(provider_name, report.polls, now, persist=False)
            report.evaluations = self.evaluate(provider_name, now)
            return report

    # ---- outbox --------------------------------------------------------------------------
    async def drain_outbox(self) -> int:
        now = self.clock()
        sent = 0
        by_name = {n.name: n for n in self.notifiers}
        for item in await self.offload(self.store.outbox_due, now):
            n = by_name.get(item.notifier)
            if n is None:
                await self.offload(
                    self.store.outbox_retry,
                    item.id,
                    now,
                    "notifier no longer configured",
                    dead=True,
                )
                continue
            try:  # rows queued by an older version may predate redaction at enqueue
                await n.send(Event.from_json(redact_tree(item.event)))
            except Exception as exc:
                err = redact(str(exc) or type(exc).__name__)
                delay = min(OUTBOX_MAX_BACKOFF, 2.0 * 2 ** min(item.attempts, 10))
                created = item.event.get("at")
                dead = (
                    bool(created)
                    and now - datetime.fromisoformat(str(created)) > OUTBOX_GIVE_UP_AFTER
                )
                await self.offload(
                    self.store.outbox_retry, item.id, now + timedelta(seconds=delay), err, dead=dead
                )
                self.metrics.notifications.labels(n.name, "failure").inc()
                log.warning(
                    "notification failed; will retry",
                    notifier=n.name,
                    attempt=item.attempts + 1,
                    error=err,
                )
                continue
            await self.offload(self.store.outbox_done, item.id, now)
            self.metrics.notifications.labels(n.name, "success").inc()
            sent += 1
        counts = await self.offload(self.store.outbox_counts)
        self.metrics.outbox_pending.set(counts.get("pending", 0))
        return sent
