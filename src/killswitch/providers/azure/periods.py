"""The period a Consumption budget's ``currentSpend`` covers.

Azure documents ``timeGrain`` as calendar periods: ``Monthly`` is the current calendar month,
``Quarterly`` the calendar quarter, ``Annually`` the calendar year (UTC; ``timePeriod.startDate``
is always the first of a month at 00:00Z). ``BillingMonth``/``BillingQuarter``/``BillingAnnual``
follow a Web Direct subscription's billing cycle, whose dates the budget does not carry, so we
cannot label them and say so instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

CALENDAR_MONTHS = {"monthly": 1, "quarterly": 3, "annually": 12}
BILLING = frozenset({"billingmonth", "billingquarter", "billingannual"})


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime


def _month_add(year: int, month: int, months: int) -> datetime:
    m = month - 1 + months
    return datetime(year + m // 12, m % 12 + 1, 1, tzinfo=UTC)


def calendar_period(grain: str, now: datetime) -> Period:
    """The UTC calendar month/quarter/year containing ``now``."""
    span = CALENDAR_MONTHS[grain.lower()]
    now = now.astimezone(UTC)
    first = ((now.month - 1) // span) * span + 1
    start = datetime(now.year, first, 1, tzinfo=UTC)
    return Period(start, _month_add(now.year, first, span))


def month(now: datetime) -> Period:
    return calendar_period("monthly", now)


def current_period(
    grain: str, start: datetime, end: datetime | None, now: datetime
) -> Period | str:
    """The period containing ``now``, or why there is none (a reason, for an event)."""
    g = grain.lower()
    if g in BILLING:
        return (
            f"timeGrain {grain} follows the subscription's billing cycle, whose dates Azure "
            "does not return; use a Monthly budget"
        )
    if g not in CALENDAR_MONTHS:
        return f"timeGrain {grain} is not a calendar period killswitch knows"
    if now < start:
        return f"starts {start.date().isoformat()}"
    if (
        end is not None and now.astimezone(UTC).date() > end.date()
    ):  # the end date's day still counts
        return f"ended {end.date().isoformat()}"
    return calendar_period(g, now)
