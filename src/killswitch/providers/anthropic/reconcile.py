"""Estimated (usage x price) against billed (cost report), per workspace and UTC day.

The usage report is what budgets act on (it has API keys and 1-minute buckets); the cost report
is what Anthropic bills. Their difference says how far our estimate can be trusted, so it is
exported as the gauge ``estimate_drift_usd{workspace, day}`` (estimated minus billed: negative
means we under-estimate, the dangerous direction).

Only like is compared with like: the cost report excludes Priority Tier, so priority usage is
left out of the estimate; code execution and other session charges are not in the usage report,
so those cost rows are left out of the billed side.

The comparison and the alert rule are the admin-API kit's
(:func:`killswitch.providers._admin_api.reconcile.should_alert`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from killswitch.providers._admin_api.reconcile import Day, Subject, billed_by_day
from killswitch.providers.anthropic.shapes import CostRow

EXCLUDED_USAGE_TIERS = frozenset({"priority", "priority_on_demand"})
COMPARABLE_COST_TYPES = frozenset({None, "tokens", "web_search"})
SUBJECT = Subject("workspace", "Anthropic workspace", "anthropic.usage")


def billed(rows: Iterable[CostRow]) -> dict[Day, Decimal]:
    """Billed USD per workspace and day, of the cost types the usage report also carries."""
    rows = (r for r in rows if r.cost_type in COMPARABLE_COST_TYPES)
    return billed_by_day((r.workspace, r.start, r.currency, r.amount) for r in rows)
