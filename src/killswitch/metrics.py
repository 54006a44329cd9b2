"""Prometheus metrics on the daemon's own registry, sized for thousands of keys.

Cardinality follows Prometheus' guidance: every configured budget always has a handful of
aggregate series (groups per state, max and p95 utilisation, spend sum, limit, window end), so
dashboards and alerts never see "no data" for a budget, even before its first successful poll.
Per-target series (one label set per key, project, ...) are exported only for the groups an
operator must look at (``metrics.per_target: breaching``, the default: every group that is not
``ok``), and never more than ``metrics.max_series`` of them; a gauge says how many were left out.

Collection never blocks a cycle: the engine works on its own mutable :class:`Snapshot` and, at the
end of each cycle, :meth:`Metrics.publish` turns it into an immutable :class:`Exposition` that is
swapped in with one reference assignment. A scrape (on the HTTP server's thread) reads whichever
exposition is current; no lock is held across a cycle or a scrape.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from killswitch import __version__
from killswitch.core.windows import WindowSpec
from killswitch.model import BudgetState, GroupStatus

ACTION_RESULTS = ("success", "failure", "dry_run", "blocked", "skipped")
STATES = tuple(BudgetState)
PerTarget = Literal["breaching", "all", "none"]
# Which groups keep their per-target series first when max_series is hit: the ones on-call acts on.
SEVERITY = {
    BudgetState.ERROR: 0,
    BudgetState.KILLED: 1,
    BudgetState.BREACHED: 2,
    BudgetState.INCOMPLETE: 3,
    BudgetState.WARNING: 4,
    BudgetState.NO_DATA: 5,
    BudgetState.OK: 6,
}
BUDGET_LABELS = ["budget", "provider", "window", "currency"]
TARGET_LABELS = ["budget", "target", "provider", "window", "currency"]


@dataclass
class SourceHealth:
    provider: str
    source: str
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    data_as_of: datetime | None = None
    stale: bool = True
    error: str | None = None
    stale_since: datetime | None = None  # set while an outage is announced
    failing_since: datetime | None = None  # the first failed poll since the last good one


@dataclass(frozen=True, slots=True)
class BudgetSeries:
    """What the exporter needs to know about a configured budget (built from its config)."""

    name: str
    provider: str
    window: WindowSpec
    limit: Decimal
    currency: str
    declared_groups: tuple[str, ...] = ()  # known before any data ({keys: [..]}, {all: true})


@dataclass
class Snapshot:
    """The engine's working view (mutable, owned by the event loop); never read by a scrape."""

    statuses: dict[str, list[GroupStatus]] = field(default_factory=dict)  # by budget
    providers: dict[str, str] = field(default_factory=dict)  # budget -> provider
    sources: dict[tuple[str, str], SourceHealth] = field(default_factory=dict)
    gauges: dict[str, dict[tuple[tuple[str, str], ...], Decimal]] = field(default_factory=dict)
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class TargetRow:
    target: str
    state: BudgetState
    spend: float | None
    ratio: float | None

    @property
    def series(self) -> int:
        """Samples this target adds: the state enum, plus spend and ratio when known."""
        return len(STATES) + (self.spend is not None) + (self.ratio is not None)


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """One budget's aggregates, and its per-target candidates, most urgent first."""

    labels: tuple[str, str, str, str]  # budget, provider, window, currency
    limit: float
    window_end: float
    counts: tuple[int, ...]  # groups per state, in STATES order
    spend_sum: float | None
    max_ratio: float | None
    p95_ratio: float | None
    candidates: tuple[TargetRow, ...]
    # a budget across providers: (provider, source, known spend summed over its groups)
    sources: tuple[tuple[str, str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Exposition:
    """An immutable picture of everything the snapshot collector exports."""

    budgets: tuple[BudgetRow, ...] = ()
    targets: tuple[tuple[BudgetRow, TargetRow], ...] = ()  # per-target rows kept under the cap
    dropped: tuple[tuple[str, int], ...] = ()  # (budget, groups left out by max_series)
    sources: tuple[tuple[str, str, bool, float | None], ...] = ()  # provider, source, stale, age
    gauges: tuple[tuple[str, tuple[str, ...], tuple[tuple[tuple[str, ...], float], ...]], ...] = ()


def p95(values: Sequence[float]) -> float | None:
    """Nearest-rank 95th percentile (a value that occurred, as a dashboard expects)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summarise(
    b: BudgetSeries,
    statuses: Sequence[GroupStatus],
    now: datetime,
    per_target: PerTarget = "breaching",
) -> BudgetRow:
    """Aggregate one budget's groups and rank the ones that qualify for per-target series."""
    counts = dict.fromkeys(STATES, 0)
    rows: list[TargetRow] = []
    ratios: list[float] = []
    spend_sum = Decimal(0)
    known = False
    for s in statuses:
        counts[s.state] += 1
        spend = float(s.spend.amount) if s.spend is not None else None
        ratio = float(s.ratio) if s.ratio is not None else None
        if s.spend is not None:
            spend_sum += s.spend.amount
            known = True
        if ratio is not None:
            ratios.append(ratio)
        if per_target == "all" or (per_target == "breaching" and s.state is not BudgetState.OK):
            rows.append(TargetRow(s.group, s.state, spend, ratio))
    if not statuses:
        # Nothing known yet (before a first successful poll, or every source failing): the
        # budget still shows up, as no_data, for each group its scope declares (or as one).
        counts[BudgetState.NO_DATA] = max(1, len(b.declared_groups))
        if per_target != "none":
            rows = [TargetRow(g, BudgetState.NO_DATA, None, None) for g in b.declared_groups]
    rows.sort(key=lambda r: (SEVERITY[r.state], -(r.ratio or 0.0), r.target))
    window_end = statuses[0].window.end if statuses else b.window.at(now).end
    return BudgetRow(
        (b.name, b.provider, str(b.window), b.currency),
        float(b.limit),
        window_end.timestamp(),
        tuple(counts[s] for s in STATES),
        float(spend_sum) if known else None,
        max(ratios) if ratios else None,
        p95(ratios),
        tuple(rows),
        source_sums(statuses),
    )


def source_sums(statuses: Sequence[GroupStatus]) -> tuple[tuple[str, str, float], ...]:
    """Each source's known spend over the budget's groups (one series per budget x source)."""
    sums: dict[tuple[str, str], Decimal] = {}
    for s in statuses:
        for part in s.sources:
            if part.spend is not None:
                key = (part.provider, part.source)
                sums[key] = sums.get(key, Decimal(0)) + part.spend.amount
    return tuple((p, src, float(v)) for (p, src), v in sorted(sums.items()))


def select(
    budgets: Iterable[BudgetRow], max_series: int
) -> tuple[list[tuple[BudgetRow, TargetRow]], dict[str, int]]:
    """Per-target rows to export, most urgent first across all budgets, within max_series."""
    wanted = [
        [(SEVERITY[t.state], -(t.ratio or 0.0), b.labels[0], t.target, b, t) for t in b.candidates]
        for b in budgets
    ]
    kept: list[tuple[BudgetRow, TargetRow]] = []
    dropped: dict[str, int] = {}
    room = max_series
    for *_, b, t in heapq.merge(*wanted, key=lambda x: x[:4]):
        if t.series <= room:
            kept.append((b, t))
            room -= t.series
        else:
            room = 0  # whole targets only, and never a less urgent one past a dropped one
            dropped[b.labels[0]] = dropped.get(b.labels[0], 0) + 1
    return kept, dropped


class SnapshotCollector(Collector):
    """Turns the current :class:`Exposition` into metric families (at scrape time, cheaply)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        view = self.metrics.exposition  # one read: the engine may swap in a new one meanwhile
        yield from _budget_families(view)
        yield from _target_families(view)
        yield from _source_families(view)
        for name, keys, series in view.gauges:
            fam = GaugeMetricFamily(
                f"killswitch_{name}", f"Reported by sources: {name}", labels=list(keys)
            )
            for values, value in series:
                fam.add_metric(list(values), value)
            yield fam


def _budget_families(view: Exposition) -> Iterator[Metric]:
    limit = GaugeMetricFamily(
        "killswitch_budget_limit_usd", "Budget limit (aggregate)", labels=BUDGET_LABELS
    )
    window_end = GaugeMetricFamily(
        "killswitch_budget_window_end_timestamp_seconds",
        "When the budget's current window resets (aggregate)",
        labels=BUDGET_LABELS,
    )
    groups = GaugeMetricFamily(
        "killswitch_budget_groups",
        "Budget groups in each state (aggregate; a budget with nothing known yet is 1 no_data)",
        labels=[*BUDGET_LABELS, "state"],
    )
    spend = GaugeMetricFamily(
        "killswitch_budget_spend_sum_usd",
        "Sum of the known spend of the budget's groups in the current window (aggregate)",
        labels=BUDGET_LABELS,
    )
    top = GaugeMetricFamily(
        "killswitch_budget_utilization_max_ratio",
        "Highest spend / limit among the budget's groups (aggregate)",
        labels=BUDGET_LABELS,
    )
    high = GaugeMetricFamily(
        "killswitch_budget_utilization_p95_ratio",
        "95th percentile (nearest rank) of spend / limit over the budget's groups (aggregate)",
        labels=BUDGET_LABELS,
    )
    by_source = GaugeMetricFamily(
        "killswitch_budget_source_spend_usd",
        "A budget across providers: one source's known spend over the budget's groups in the "
        "current window (absent while nothing is known from it)",
        labels=["budget", "provider", "source", "currency"],
    )
    dropped = GaugeMetricFamily(
        "killswitch_metrics_groups_dropped",
        "Groups that qualified for per-target series but were left out by metrics.max_series",
        labels=["budget"],
    )
    gone = dict(view.dropped)
    for b in view.budgets:
        lv = list(b.labels)
        limit.add_metric(lv, b.limit)
        window_end.add_metric(lv, b.window_end)
        for st, n in zip(STATES, b.counts, strict=True):
            groups.add_metric([*lv, st.value], float(n))
        if b.spend_sum is not None:
            spend.add_metric(lv, b.spend_sum)
        if b.max_ratio is not None:
            top.add_metric(lv, b.max_ratio)
        if b.p95_ratio is not None:
            high.add_metric(lv, b.p95_ratio)
        dropped.add_metric([b.labels[0]], float(gone.get(b.labels[0], 0)))
        for provider, source, amount in b.sources:
            by_source.add_metric([b.labels[0], provider, source, b.labels[3]], amount)
    yield from (limit, window_end, groups, spend, top, high, by_source, dropped)


def _target_families(view: Exposition) -> Iterator[Metric]:
    spend = GaugeMetricFamily(
        "killswitch_spend_usd",
        "Spend of one group in the budget's current window (per target; absent while unknown)",
        labels=TARGET_LABELS,
    )
    ratio = GaugeMetricFamily(
        "killswitch_budget_utilization_ratio",
        "spend / limit of one group in the current window (per target)",
        labels=TARGET_LABELS,
    )
    state = GaugeMetricFamily(
        "killswitch_budget_state",
        "1 for the group's current state (per target)",
        labels=[*TARGET_LABELS, "state"],
    )
    for b, t in view.targets:
        budget, provider, window, currency = b.labels
        lv = [budget, t.target, provider, window, currency]
        if t.spend is not None:
            spend.add_metric(lv, t.spend)
        if t.ratio is not None:
            ratio.add_metric(lv, t.ratio)
        for st in STATES:
            state.add_metric([*lv, st.value], 1.0 if st is t.state else 0.0)
    yield from (spend, ratio, state)


def _source_families(view: Exposition) -> Iterator[Metric]:
    stale = GaugeMetricFamily(
        "killswitch_source_stale",
        "1 when a source's data is stale (last poll failed or too old)",
        labels=["provider", "source"],
    )
    age = GaugeMetricFamily(
        "killswitch_data_age_seconds",
        "Age of the newest data a source returned (providers lag)",
        labels=["provider", "source"],
    )
    for p, src, is_stale, data_age in view.sources:
        stale.add_metric([p, src], 1.0 if is_stale else 0.0)
        if data_age is not None:
            age.add_metric([p, src], data_age)
    yield from (stale, age)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.snapshot = Snapshot()
        self.exposition = Exposition()
        self.per_target: PerTarget = "breaching"
        self.max_series = 2000
        self._budgets: dict[str, BudgetSeries] = {}
        self._rows: dict[str, BudgetRow] = {}
        self._declare_activity()
        self._declare_process()
        self.registry.register(SnapshotCollector(self))

    def _counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def _gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, labels, registry=self.registry)

    def _declare_activity(self) -> None:
        """What the daemon did: polls, actions, kills, restores, notifications."""
        counter, gauge = self._counter, self._gauge
        self.actions = counter(
            "killswitch_actions", "Actions carried out, by result", "action", "result"
        )
        self.kills = counter("killswitch_kills", "Kill decisions carried out", "budget")
        self.restores = counter("killswitch_restores", "Restores carried out", "budget")
        self.polls = counter("killswitch_poll", "Source polls, by result", "provider", "result")
        self.poll_duration = Histogram(
            "killswitch_poll_duration_seconds",
            "Duration of one source poll",
            ["provider"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.last_success = gauge(
            "killswitch_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful poll",
            "provider",
        )
        self.notifications = counter(
            "killswitch_notifications", "Notification deliveries", "notifier", "result"
        )

    def _declare_process(self) -> None:
        """The replica itself: its role, its backlog, its errors, its build."""
        counter, gauge = self._counter, self._gauge
        self.outbox_pending = gauge(
            "killswitch_outbox_pending", "Notifications waiting for delivery"
        )
        self.leader = gauge(
            "killswitch_leader", "1 when this replica acts (holds the lease)", "identity"
        )
        self.overrides_active = gauge(
            "killswitch_overrides_active",
            "Operator overrides in force (manual restores that hold, manual kills)",
            "budget",
        )
        self.shard_owned = gauge(
            "killswitch_shard_owned",
            "1 on the replica that holds this shard's lease and acts for it (ha.shard)",
            "shard",
        )
        self.cycle_errors = counter(
            "killswitch_cycle_errors", "Cycles that raised unexpectedly (bugs)"
        )
        self.state_errors = counter(
            "killswitch_state_errors",
            "Cycles skipped on a state database error (lock or statement timeout, lost connection)",
        )
        build = gauge("killswitch_build_info", "Build information", "version")
        build.labels(__version__).set(1)

    def init_series(
        self,
        providers: Iterable[str],
        actions: Iterable[str],
        notifiers: Sequence[str],
        budgets: Iterable[str],
    ) -> None:
        for p in providers:
            for res in ("success", "error"):
                self.polls.labels(p, res)
            self.poll_duration.labels(p)
        for a in set(actions):
            for res in ACTION_RESULTS:
                self.actions.labels(a, res)
        for n in notifiers:
            for res in ("success", "failure"):
                self.notifications.labels(n, res)
        for b in budgets:
            self.kills.labels(b)
            self.restores.labels(b)
            self.overrides_active.labels(b).set(0)

    def init_budgets(
        self,
        budgets: Iterable[BudgetSeries],
        now: datetime,
        *,
        per_target: PerTarget = "breaching",
        max_series: int = 2000,
    ) -> None:
        """Declare the configured budgets: their series exist from the first scrape (no_data)."""
        self.per_target = per_target
        self.max_series = max_series
        self._budgets = {b.name: b for b in budgets}
        for b in self._budgets.values():
            self.snapshot.providers[b.name] = b.provider
        self._rows = {}
        self.publish(now)

    def publish(self, now: datetime, budgets: Iterable[str] | None = None) -> None:
        """Build a new exposition from the snapshot and swap it in (one reference assignment).

        ``budgets`` names the budgets whose statuses changed (a provider's cycle); the others keep
        their aggregates from the last publish, so a cycle pays only for its own budgets.
        """
        snap = self.snapshot
        names = self._budgets if budgets is None else [n for n in budgets if n in self._budgets]
        for name in names:
            self._rows[name] = summarise(
                self._budgets[name], snap.statuses.get(name, ()), now, self.per_target
            )
        rows = tuple(self._rows[n] for n in sorted(self._rows))
        kept, dropped = select(rows, self.max_series)
        self.exposition = Exposition(
            budgets=rows,
            targets=tuple(kept),
            dropped=tuple(sorted(dropped.items())),
            sources=_sources(snap.sources, snap.now),
            gauges=_gauges(snap.gauges),
        )


def _sources(
    health: Mapping[tuple[str, str], SourceHealth], now: datetime | None
) -> tuple[tuple[str, str, bool, float | None], ...]:
    out = []
    for (p, src), h in sorted(health.items()):
        age = None
        if h.data_as_of is not None and now is not None:
            age = max(0.0, (now - h.data_as_of).total_seconds())
        out.append((p, src, h.stale, age))
    return tuple(out)


def _gauges(
    gauges: Mapping[str, Mapping[tuple[tuple[str, str], ...], Decimal]],
) -> tuple[tuple[str, tuple[str, ...], tuple[tuple[tuple[str, ...], float], ...]], ...]:
    out = []
    for name, series in sorted(gauges.items()):
        keys = tuple(sorted({k for lbls in series for k, _ in lbls}))
        rows = []
        for lbls, value in series.items():
            d = dict(lbls)
            rows.append((tuple(d.get(k, "") for k in keys), float(value)))
        out.append((name, keys, tuple(rows)))
    return tuple(out)
