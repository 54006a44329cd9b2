"""Prometheus metrics on the daemon's own registry.

Gauges about budgets are produced by a collector that reads the engine's latest snapshot, so a
budget removed from the config disappears from /metrics at the next scrape, and every configured
budget has series (0 / no_data) from the first scrape. Counters are pre-initialised to 0 for
every configured action, provider and notifier so alerts and dashboards never see "no data".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from killswitch import __version__
from killswitch.model import BudgetState, GroupStatus

ACTION_RESULTS = ("success", "failure", "dry_run", "blocked", "skipped")


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


@dataclass
class Snapshot:
    statuses: dict[str, list[GroupStatus]] = field(default_factory=dict)  # by budget
    providers: dict[str, str] = field(default_factory=dict)  # budget -> provider
    sources: dict[tuple[str, str], SourceHealth] = field(default_factory=dict)
    gauges: dict[str, dict[tuple[tuple[str, str], ...], Decimal]] = field(default_factory=dict)
    now: datetime | None = None


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        labels = ["budget", "target", "provider", "window", "currency"]
        spend = GaugeMetricFamily(
            "killswitch_spend_usd",
            "Spend in the budget's current window (in the budget's currency; absent while unknown)",
            labels=labels,
        )
        limit = GaugeMetricFamily("killswitch_budget_limit_usd", "Budget limit", labels=labels)
        ratio = GaugeMetricFamily(
            "killswitch_budget_utilization_ratio",
            "spend / limit in the current window",
            labels=labels,
        )
        state = GaugeMetricFamily(
            "killswitch_budget_state",
            "1 for the budget group's current state",
            labels=[*labels, "state"],
        )
        window_end = GaugeMetricFamily(
            "killswitch_budget_window_end_timestamp_seconds",
            "When the current window resets",
            labels=labels,
        )
        for budget, statuses in sorted(snap.statuses.items()):
            for s in statuses:
                lv = [
                    budget,
                    s.group,
                    snap.providers.get(budget, ""),
                    s.window.spec,
                    s.limit.currency,
                ]
                if s.spend is not None:
                    spend.add_metric(lv, float(s.spend.amount))
                limit.add_metric(lv, float(s.limit.amount))
                if s.ratio is not None:
                    ratio.add_metric(lv, float(s.ratio))
                window_end.add_metric(lv, s.window.end.timestamp())
                for st in BudgetState:
                    state.add_metric([*lv, st.value], 1.0 if st is s.state else 0.0)
        yield from (spend, limit, ratio, state, window_end)

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
        for (p, src), h in sorted(snap.sources.items()):
            stale.add_metric([p, src], 1.0 if h.stale else 0.0)
            if h.data_as_of is not None and snap.now is not None:
                age.add_metric([p, src], max(0.0, (snap.now - h.data_as_of).total_seconds()))
        yield stale
        yield age

        for name, series in sorted(snap.gauges.items()):
            keys = sorted({k for lbls in series for k, _ in lbls})
            fam = GaugeMetricFamily(
                f"killswitch_{name}", f"Reported by sources: {name}", labels=keys
            )
            for lbls, value in series.items():
                d = dict(lbls)
                fam.add_metric([d.get(k, "") for k in keys], float(value))
            yield fam


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.snapshot = Snapshot()
        r = self.registry
        self.actions = Counter(
            "killswitch_actions", "Actions carried out, by result", ["action", "result"], registry=r
        )
        self.kills = Counter(
            "killswitch_kills", "Kill decisions carried out", ["budget"], registry=r
        )
        self.restores = Counter(
            "killswitch_restores", "Restores carried out", ["budget"], registry=r
        )
        self.polls = Counter(
            "killswitch_poll", "Source polls, by result", ["provider", "result"], registry=r
        )
        self.poll_duration = Histogram(
            "killswitch_poll_duration_seconds",
            "Duration of one source poll",
            ["provider"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.last_success = Gauge(
            "killswitch_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful poll",
            ["provider"],
            registry=r,
        )
        self.notifications = Counter(
            "killswitch_notifications",
            "Notification deliveries",
            ["notifier", "result"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "killswitch_outbox_pending", "Notifications waiting for delivery", registry=r
        )
        self.leader = Gauge(
            "killswitch_leader",
            "1 when this replica acts (holds the lease)",
            ["identity"],
            registry=r,
        )
        self.cycle_errors = Counter(
            "killswitch_cycle_errors", "Cycles that raised unexpectedly (bugs)", registry=r
        )
        build = Gauge("killswitch_build_info", "Build information", ["version"], registry=r)
        build.labels(__version__).set(1)
        r.register(SnapshotCollector(self.snapshot))

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
