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

The comparison and the alert rule are the admin-API kit's
(:func:`killswitch.providers._admin_api.reconcile.should_alert`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from killswitch.providers._admin_api.reconcile import Day, Subject, billed_by_day
from killswitch.providers.openai.shapes import CostRow

SUBJECT = Subject("project", "OpenAI project", "openai.usage")


def billed(rows: Iterable[CostRow]) -> dict[Day, Decimal]:
    """Billed USD per project and day: every line item (what usage cannot see shows as drift)."""
    return billed_by_day((r.project, r.start, r.currency, r.amount) for r in rows)
