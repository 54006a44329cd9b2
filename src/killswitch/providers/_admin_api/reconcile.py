"""Estimated (usage x price) against billed cost, per scope (project, workspace) and UTC day.

Budgets on a usage source act on an estimate; the cost endpoint is what the vendor bills, late
and per day. Their difference says how far the estimate can be trusted, so it is exported as the
gauge ``estimate_drift_usd{<scope>, day}`` = estimated - billed (negative: we under-estimate, the
dangerous direction), with ``reconciled_estimate_usd`` and ``reconciled_billed_usd`` beside it.
Which days are compared (complete, settled, fully read) is each provider's call; this module
compares the days it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Generic

from killswitch.model import PollResult, SourceEvent
from killswitch.plugins import ProviderContext
from killswitch.providers._admin_api.costs import DAY, BilledReader, S

Day = tuple[str, str]  # (scope id, YYYY-MM-DD)
Part = tuple[str, str, Decimal, bool]  # (scope id, YYYY-MM-DD, estimated USD, complete)
Gauges = dict[str, dict[tuple[tuple[str, str], ...], Decimal]]


@dataclass(frozen=True, slots=True)
class Estimate:
    amount: Decimal
    complete: bool  # False: some usage could not be priced, so drift would be false


@dataclass(slots=True)
class Drift:
    gauges: Gauges = field(default_factory=dict)
    events: list[SourceEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Subject:
    """Who the drift is about: ``Subject("project", "OpenAI project", "openai.usage")``."""

    dim: str  # gauge label and event detail key
    title: str  # how the alert names one scope
    source: str  # the usage source whose budgets see the estimate


def should_alert(drift: Decimal, billed: Decimal, alert_usd: Decimal, ratio: Decimal) -> bool:
    """Alert when the gap is over BOTH the absolute and the relative bound.

    ``|drift| > alert_usd`` keeps small days quiet (a $0.40 gap on a $0.50 day is noise);
    ``|drift| > ratio x |billed|`` keeps big days quiet while the gap is pricing rounding (a $3
    gap on a $900 day). One copy of this rule used to add ``billed == 0 or`` to the relative
    bound: that changes nothing, because with nothing billed the relative bound is ``|drift| >
    0``, which the absolute bound (never negative) already implies; so an unbilled day with
    usage alerts exactly when its gap passes ``alert_usd``. The bound is taken against
    ``|billed|`` so a credit day (negative billed) is not compared with a negative threshold
    that every gap would pass.
    """
    gap = abs(drift)
    return gap > alert_usd and gap > ratio * abs(billed)


def estimates_by_day(parts: Iterable[Part]) -> dict[Day, Estimate]:
    """Sum (scope, day, amount, complete) parts; a day is complete only if every part is."""
    out: dict[Day, Estimate] = {}
    for scope, day, amount, complete in parts:
        e = out.get((scope, day), Estimate(Decimal(0), True))
        out[(scope, day)] = Estimate(e.amount + amount, e.complete and complete)
    return out


def billed_by_day(rows: Iterable[tuple[str, datetime, str, Decimal]]) -> dict[Day, Decimal]:
    """Sum (scope, bucket start, currency, amount) cost rows per scope and day, USD only."""
    out: dict[Day, Decimal] = {}
    for scope, start, currency, amount in rows:
        if currency != "USD":
            continue
        k = (scope, start.date().isoformat())
        out[k] = out.get(k, Decimal(0)) + amount
    return out


def reconcile(
    subject: Subject,
    estimates: Mapping[Day, Estimate],
    billed: Mapping[Day, Decimal],
    days: Iterable[str],
    alert_usd: Decimal,
    alert_ratio: Decimal,
) -> Drift:
    """Drift for every scope seen on either side, on each of ``days``; one event per scope+day."""
    out = Drift()
    wanted = set(days)
    for scope, day in sorted({k for k in (*estimates, *billed) if k[1] in wanted}):
        est = estimates.get((scope, day), Estimate(Decimal(0), True))
        if not est.complete:
            continue  # an estimate missing unpriced usage would report false drift
        bill = billed.get((scope, day), Decimal(0))
        drift = est.amount - bill
        labels = ((subject.dim, scope), ("day", day))
        out.gauges.setdefault("estimate_drift_usd", {})[labels] = drift
        out.gauges.setdefault("reconciled_estimate_usd", {})[labels] = est.amount
        out.gauges.setdefault("reconciled_billed_usd", {})[labels] = bill
        if should_alert(drift, bill, alert_usd, alert_ratio):
            out.events.append(_event(subject, scope, day, est.amount, bill, drift))
    return out


def _event(
    subject: Subject, scope: str, day: str, est: Decimal, bill: Decimal, drift: Decimal
) -> SourceEvent:
    side = "under" if drift < 0 else "over"
    return SourceEvent(
        "estimate_drift",
        f"drift:{scope}:{day}",
        f"{subject.title} {scope} on {day}: usage x price is ${est:.2f}, billed ${bill:.2f} "
        f"({side}-estimate by ${abs(drift):.2f}); budgets on {subject.source} see the estimate",
        {
            subject.dim: scope,
            "day": day,
            "estimated_usd": _s(est),
            "billed_usd": _s(bill),
            "drift_usd": _s(drift),
        },
    )


def _s(x: Decimal) -> str:
    return format(x.normalize(), "f")


def utc_days(first: datetime, end: datetime, compare: Callable[[datetime], bool]) -> list[str]:
    """``YYYY-MM-DD`` of each UTC midnight from ``first`` up to (not at) ``end`` to compare."""
    out = []
    d = first
    while d < end:
        if compare(d):
            out.append(d.date().isoformat())
        d += DAY
    return out


class Reconciler(Generic[S]):
    """A usage source's side of drift: what it estimated per bin, and when it last compared.

    Both usage sources keep their estimate per (target, bin start), read the bill through the
    :class:`BilledReader` they share with their costs source at most once per ``interval``, and
    forget bins older than the first day they compare. Which days are compared stays theirs.
    """

    def __init__(self, subject: Subject, costs: BilledReader[Any, S], interval: timedelta) -> None:
        self.subject = subject
        self.costs = costs
        self.interval = interval
        self.estimates: dict[tuple[str, datetime], Part] = {}
        self.compared_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self.compared_at is None or now - self.compared_at >= self.interval

    async def bill(self, now: datetime, first_day: datetime) -> S:
        """Forget estimates before ``first_day``; read the bill from it (raises SourceError)."""
        self.estimates = {k: v for k, v in self.estimates.items() if k[1] >= first_day}
        snap = await self.costs.read(now, first_day)
        self.compared_at = now
        return snap

    def compare(
        self,
        result: PollResult,
        billed: Mapping[Day, Decimal],
        days: Iterable[str],
        context: ProviderContext,
    ) -> PollResult:
        """``result`` with the drift gauges and events of ``days`` (instead of its own)."""
        drift = reconcile(
            self.subject,
            estimates_by_day(self.estimates.values()),
            billed,
            days,
            context.drift_alert_usd,
            context.drift_alert_ratio,
        )
        return replace(result, gauges=drift.gauges, events=tuple(drift.events))
