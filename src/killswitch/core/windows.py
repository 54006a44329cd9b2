"""Budget windows: calendar periods aligned in the budget's timezone, tumbling intervals, rolling.

Calendar windows follow the wall clock of their zone (a "daily" window in Europe/Kyiv resets at
local midnight, which is 21:00 or 22:00 UTC depending on DST); results are returned in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from killswitch.durations import format_duration, parse_duration
from killswitch.model import Window, utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Parsed ``window`` + ``timezone`` of a budget."""

    kind: str  # daily | weekly | monthly | rolling | interval
    length: timedelta | None = None
    timezone: str = "UTC"

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> WindowSpec:
        ZoneInfo(timezone)  # raises for an unknown zone
        t = text.strip().lower()
        if t in ("daily", "weekly", "monthly"):
            return cls(t, None, timezone)
        for kind in ("rolling", "interval"):
            if t.startswith(kind + ":"):
                return cls(kind, parse_duration(t.split(":", 1)[1]), timezone)
        raise ValueError(
            f"{text!r} is not a window: use daily, weekly, monthly, rolling:<duration> "
            "(e.g. rolling:24h) or interval:<duration> (tumbling, e.g. interval:1h)"
        )

    def __str__(self) -> str:
        if self.length is not None:
            return f"{self.kind}:{format_duration(self.length)}"
        return self.kind

    @property
    def slides(self) -> bool:
        return self.kind == "rolling"

    def at(self, now: datetime) -> Window:
        """The window containing ``now``.

        Memoised per (spec, instant): a cycle evaluates every budget at one ``now``, so 100k
        budgets on the same window and zone compute its boundaries once, not 100k times.
        """
        return _window_at(self, utc(now))

    def _compute(self, now: datetime) -> Window:
        if self.kind == "rolling":
            assert self.length is not None
            return Window(now - self.length, now, str(self))
        if self.kind == "interval":
            assert self.length is not None
            tz = ZoneInfo(self.timezone)
            local = now.astimezone(tz)
            offset = local.utcoffset() or timedelta(0)
            step = self.length.total_seconds()
            shifted = (now - EPOCH).total_seconds() + offset.total_seconds()
            start_local_secs = shifted - (shifted % step)
            start = EPOCH + timedelta(seconds=start_local_secs) - offset
            return Window(start, start + self.length, str(self))
        tz = ZoneInfo(self.timezone)
        local = now.astimezone(tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.kind == "daily":
            start_l, end_l = midnight, _add_days(midnight, 1)
        elif self.kind == "weekly":  # ISO weeks: Monday 00:00 local
            start_l = _add_days(midnight, -midnight.weekday())
            end_l = _add_days(start_l, 7)
        else:
            start_l = midnight.replace(day=1)
            end_l = _add_month(start_l)
        return Window(_to_utc(start_l, tz), _to_utc(end_l, tz), str(self))

    def previous(self, window: Window) -> Window:
        return self.at(window.start - timedelta(microseconds=1))


@lru_cache(maxsize=1024)
def _window_at(spec: WindowSpec, now: datetime) -> Window:
    return spec._compute(now)


def _add_days(local: datetime, days: int) -> datetime:
    # Wall-clock arithmetic: add to the naive date, re-attach the zone (DST-safe).
    naive = local.replace(tzinfo=None) + timedelta(days=days)
    return naive.replace(tzinfo=local.tzinfo)


def _add_month(local: datetime) -> datetime:
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local.replace(year=year, month=month)


def _to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    # Re-resolve the wall time in the zone so the UTC offset matches that date's DST state.
    return local.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC)
