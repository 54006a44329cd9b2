"""Google's billing months, and how they map onto killswitch's calendar windows.

Google Cloud budget periods begin "at 12 AM US and Canadian Pacific Time" (billingbudgets v1
Discovery doc), so a monthly budget's ``costIntervalStart`` is e.g. ``2026-11-01T07:00:00Z``
(PDT) or ``2026-12-01T08:00:00Z`` (PST). Sources seen so far follow America/Los_Angeles with
daylight saving; the doc's "(UTC-8)" reads like a fixed offset, so both are accepted and the end
is computed in the convention the start was given in: the same wall-clock instant one calendar
month later, i.e. the next billing month's start.

killswitch matches a ``to_date`` observation to a window only when start and end are equal. A
``window: monthly`` budget in ``timezone: America/Los_Angeles`` matches the exact interval; a UTC
(or other zone) monthly budget gets the same figure re-labelled as that zone's calendar month that
contains most of the Google month. The re-labelled figure is off by the spend of the hours between
the two midnights at each end (at most 8 h at each end of a month); the observation note says so.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from killswitch.core.windows import WindowSpec
from killswitch.model import Window

PACIFIC = ZoneInfo("America/Los_Angeles")
FIXED_PST = timezone(timedelta(hours=-8))


class NotAMonthStart(ValueError):
    """The interval does not start at a Pacific month boundary: not a monthly budget."""


def _next_month(local: datetime) -> datetime:
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local.replace(year=year, month=month)


def billing_month(start: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of the Google billing month starting at ``start`` (aware, any zone)."""
    start = start.astimezone(UTC)
    for zone in (PACIFIC, FIXED_PST):
        local = start.astimezone(zone)
        if local.day == 1 and local.time() == time(0):
            end_local = _next_month(local.replace(tzinfo=None)).replace(tzinfo=zone)
            return start, end_local.astimezone(UTC)
    raise NotAMonthStart(
        f"costIntervalStart {start.isoformat()} is not midnight on the 1st in Pacific time: only "
        "monthly (calendar month) GCP budgets are supported"
    )


def aligned_windows(start: datetime, zones: tuple[str, ...]) -> list[Window]:
    """The calendar month of each zone that holds most of the billing month at ``start``.

    A day after the start lies inside that month for every zone within 24 h of Pacific time.
    Zones whose month is exactly the billing month are left out (the exact observation covers
    them).
    """
    exact = billing_month(start)
    out: list[Window] = []
    for zone in zones:
        w = WindowSpec("monthly", None, zone).at(start + timedelta(days=1))
        if (w.start, w.end) != exact and all((x.start, x.end) != (w.start, w.end) for x in out):
            out.append(w)
    return out
