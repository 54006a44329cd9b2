"""Estimated (usage x price) against billed (costs), per project and completed UTC day.

Budgets on ``openai.usage`` act on an estimate; ``/organization/costs`` is what OpenAI bills, but
it comes per day, per project, and late. Their difference says how far the estimate can be
trusted, so the usage source exports ``estimate_drift_usd{project, day}`` = estimated - billed
(negative: we under-estimate, the dangerous direction).

Which days: completed UTC days only, within ``reconcile_days``, at least ``reconcile_settle``
after they end (costs land late: a day compared too early shows false negative drift and would
page someone), and only days whose usage this process read from their start. Today is never
compared: its costs are always behind its usage.

What is compared: everything billed for the project that day against everything we priced.
Charges the usage endpoints we read do not carry (web search, file search, vector storage, code
interpreter, fine-tuning) therefore show as negative drift, which is the truth about what
budgets on ``openai.usage`` cannot see.

Alert rule: a ``SourceEvent(kind="estimate_drift")`` when BOTH ``|drift| > drift_alert_usd`` AND
``|drift| > drift_alert_ratio x billed`` (a $0.40 gap on a $0.50 day is noise; a $3 gap on a $900
day is rounding). One event per project and day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from killswitch.model import SourceEvent
from killswitch.providers.openai.shapes import CostRow

Day = tuple[str, str]  # (project, YYYY-MM-DD)
Gauges = dict[str, dict[tuple[tuple[str, str], ...], Decimal]]


@dataclass(frozen=True, slots=True)
class Estimate:
    amount: Decimal
    complete: bool


@dataclass(slots=True)
class Drift:
    gauges: Gauges = field(default_factory=dict)
    events: list[SourceEvent] = field(default_factory=list)


def _s(x: Decimal) -> str:
    return format(x.normalize(), "f")


def billed_by_day(rows: Iterable[CostRow]) -> dict[Day, Decimal]:
    out: dict[Day, Decimal] = {}
    for r in rows:
        if r.currency != "USD":
            continue
        k = (r.project, r.start.date().isoformat())
        out[k] = out.get(k, Decimal(0)) + r.amount
    return out


def reconcile(
    estimates: Mapping[Day, Estimate],
    billed: Mapping[Day, Decimal],
    days: Iterable[str],
    alert_usd: Decimal,
    alert_ratio: Decimal,
) -> Drift:
    """Drift for every project seen on either side, on each of ``days``."""
    out = Drift()
    wanted = set(days)
    for project, day in sorted({k for k in (*estimates, *billed) if k[1] in wanted}):
        est = estimates.get((project, day), Estimate(Decimal(0), True))
        if not est.complete:
            continue  # an estimate missing unpriced usage would report false drift
        bill = billed.get((project, day), Decimal(0))
        drift = est.amount - bill
        labels = (("project", project), ("day", day))
        out.gauges.setdefault("estimate_drift_usd", {})[labels] = drift
        out.gauges.setdefault("reconciled_estimate_usd", {})[labels] = est.amount
        out.gauges.setdefault("reconciled_billed_usd", {})[labels] = bill
        gap = abs(drift)
        if gap > alert_usd and gap > alert_ratio * bill:
            side = "under" if drift < 0 else "over"
            out.events.append(
                SourceEvent(
                    "estimate_drift",
                    f"drift:{project}:{day}",
                    f"OpenAI project {project} on {day}: usage x price is ${est.amount:.2f}, "
                    f"billed ${bill:.2f} ({side}-estimate by ${gap:.2f}); budgets on "
                    "openai.usage see the estimate",
                    {
                        "project": project,
                        "day": day,
                        "estimated_usd": _s(est.amount),
                        "billed_usd": _s(bill),
                        "drift_usd": _s(drift),
                    },
                )
            )
    return out
