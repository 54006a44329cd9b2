"""Estimated (usage x price) against billed (cost report), per workspace and UTC day.

The usage report is what budgets act on (it has API keys and 1-minute buckets); the cost report
is what Anthropic bills. Their difference says how far our estimate can be trusted, so it is
exported as the gauge ``estimate_drift_usd{workspace, day}`` (estimated minus billed: negative
means we under-estimate, the dangerous direction).

Only like is compared with like: the cost report excludes Priority Tier, so priority usage is
left out of the estimate; code execution and other session charges are not in the usage report,
so those cost rows are left out of the billed side.

Alert rule: a ``SourceEvent(kind="estimate_drift")`` when BOTH
``|drift| > drift_alert_usd`` AND (``billed == 0`` or ``|drift| > drift_alert_ratio x billed``).
The absolute bound keeps tiny days quiet (a 50% drift on $0.40 is noise); the relative bound
keeps big days quiet when the gap is within pricing rounding. One event per workspace and day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from killswitch.model import SourceEvent
from killswitch.providers.anthropic.shapes import CostRow

EXCLUDED_USAGE_TIERS = frozenset({"priority", "priority_on_demand"})
COMPARABLE_COST_TYPES = frozenset({None, "tokens", "web_search"})
Day = tuple[str, str]  # (workspace, YYYY-MM-DD)


@dataclass(frozen=True, slots=True)
class Estimate:
    amount: Decimal
    complete: bool


@dataclass(slots=True)
class Drift:
    gauges: dict[str, dict[tuple[tuple[str, str], ...], Decimal]] = field(default_factory=dict)
    events: list[SourceEvent] = field(default_factory=list)


def _s(x: Decimal) -> str:
    return format(x.normalize(), "f")


def billed_by_day(rows: Iterable[CostRow]) -> dict[Day, Decimal]:
    out: dict[Day, Decimal] = {}
    for r in rows:
        if r.cost_type not in COMPARABLE_COST_TYPES or r.currency != "USD":
            continue
        k = (r.workspace, r.start.date().isoformat())
        out[k] = out.get(k, Decimal(0)) + r.amount
    return out


def reconcile(
    estimates: Mapping[Day, Estimate],
    billed: Mapping[Day, Decimal],
    days: Iterable[str],
    alert_usd: Decimal,
    alert_ratio: Decimal,
) -> Drift:
    """Drift for every workspace seen on either side, on each of ``days`` (fully read days)."""
    out = Drift()
    wanted = set(days)
    keys = {k for k in (*estimates, *billed) if k[1] in wanted}
    for ws, day in sorted(keys):
        est = estimates.get((ws, day), Estimate(Decimal(0), True))
        if not est.complete:
            continue  # an estimate missing unpriced usage would report false drift
        bill = billed.get((ws, day), Decimal(0))
        drift = est.amount - bill
        labels = (("workspace", ws), ("day", day))
        out.gauges.setdefault("estimate_drift_usd", {})[labels] = drift
        out.gauges.setdefault("reconciled_estimate_usd", {})[labels] = est.amount
        out.gauges.setdefault("reconciled_billed_usd", {})[labels] = bill
        gap = abs(drift)
        if gap > alert_usd and (bill == 0 or gap > alert_ratio * bill):
            side = "under" if drift < 0 else "over"
            out.events.append(
                SourceEvent(
                    "estimate_drift",
                    f"drift:{ws}:{day}",
                    f"Anthropic workspace {ws} on {day}: usage x price is ${est.amount:.2f}, "
                    f"billed ${bill:.2f} ({side}-estimate by ${gap:.2f}); budgets on "
                    "anthropic.usage see the estimate",
                    {
                        "workspace": ws,
                        "day": day,
                        "estimated_usd": _s(est.amount),
                        "billed_usd": _s(bill),
                        "drift_usd": _s(drift),
                    },
                )
            )
    return out
